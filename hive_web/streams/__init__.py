"""Server-Sent Events: the dashboard's one stream, its fan-out hub, and the agent pages' relay.

``fanout`` reads the host's event log once for every open page and carries
the ``desired`` hints the host core's meta watch feeds it; ``dashboard`` is
``GET /api/stream``; ``agentpage`` relays an agent's stream from its harness
byte for byte; ``registry`` ends every open stream on shutdown.
"""

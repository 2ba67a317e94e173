"""Pure helpers that turn desired state, stores and plans into the JSON the browser renders.

No I/O here: each function takes plain data and returns plain data, so the
handlers stay a few lines and these are tested without a server.
"""

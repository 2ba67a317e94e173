"""The I/O that gathers what the views render; nothing here builds a response.

Meta-repo reads run on the dashboard's one git thread (``hive_web.meta``);
state-dir walks and sqlite reads run on a worker thread (``asyncio.to_thread``)
from the route. The reconciler is only ever *read* (``reconciler.readonly``,
its status records, a dry-run plan); what the dashboard asks of it goes
through the host core's ``ReconcilerControl``.
"""

"""The web: the operator's dashboard and each agent's page (aiohttp, SSE).

Belongs here: routes, SSE, templates and static assets, auth and CSRF.
Must not be here: logic the CLI also needs; views read through `hive_core`,
`desired` and `reconciler` and edit only desired state.
"""

"""Desired state: what the swarm should look like, and the git meta repo that holds it.

Belongs here: the pydantic schema of `hive.json` and `agents/<name>.json`, the
cross-object rules, loading and dumping the file tree, the change operations,
the three-way merge by field, and the meta repo itself (commits, proposals, approvals, tags, history, the
pre-receive hook, and following an upstream remote through that hook's check).

Must not be here: anything that runs agents, talks to sockets or knows about
the reconciler. This package imports only pydantic and pygit2, so the hook
that git runs on every push can use it without the rest of hyperhive.
"""

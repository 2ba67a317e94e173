"""The manager's read-only view of the meta repo, as the runtime writes it on the host.

Both runtimes bind it at ``/meta.git`` in the manager's sandbox or container, with the meta
repo's own ``objects`` and ``refs`` bound read-only over the two empty directories here. The
repo's own config (a Forgejo URL may carry a token), hooks, logs and ``FETCH_HEAD`` stay out
(docs/security.md).
"""

from __future__ import annotations

from pathlib import Path

VIEW_CONFIG = "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"


def write_meta_view(view: Path) -> None:
    """The view's own files (0644) and the mount points for ``objects`` and ``refs`` (0755)."""
    for sub in ("objects", "refs"):
        (view / sub).mkdir(parents=True, exist_ok=True)
    for name, text in (("HEAD", "ref: refs/heads/main\n"), ("config", VIEW_CONFIG)):
        (view / name).write_text(text)
    for path in (view, view / "objects", view / "refs"):
        path.chmod(0o755)
    for name in ("HEAD", "config"):
        (view / name).chmod(0o644)

"""`hive-harness`: runs inside each agent's sandbox (`serve`) and as claude's MCP server (`mcp`)."""

from __future__ import annotations

import sys


def main() -> None:
    print("hive-harness: the harness is being built (issue 5); no commands yet", file=sys.stderr)
    sys.exit(1)

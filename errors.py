"""The one exception a user can cause, and how every command reports it."""
from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem the user can fix (bad flag, missing file, unknown column): one line, exit code 2."""


def run_cli(main: Callable[[], int | None]) -> int:
    """Run a command's body; a UserError becomes one line on stderr and exit code 2, never a traceback."""
    try:
        return main() or 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

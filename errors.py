"""The one exception a user can cause, and how every command reports it."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence


class UserError(ValueError):
    """A problem the user can fix (bad flag, missing file, unknown column): one line, exit code 2."""


class LeakWarning(UserWarning):
    """The protocol is not speaker-independent (a leaky split, no groups, a label that names the speaker)."""


class ProbeWarning(UserWarning):
    """Any other warning a results document holds (a class never predicted, C at the grid's edge, ...)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag raises UserError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def run_cli(
    run: Callable[[argparse.Namespace], int | None],
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse argv and run a command; a UserError becomes one line on stderr and exit code 2."""
    try:
        return run(parser.parse_args(argv)) or 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`probe ... | head`): point stdout at devnull so that the interpreter's
        # final flush does not raise again (the recipe of Python's signal documentation).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141

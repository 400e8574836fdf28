"""The one exception a user can cause, and how every command reports it."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence

# The most characters of an error a terminal line shows; the whole message goes to a log file.
SHOWN_CHARS = 300
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


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
    """Parse argv and run a command; a UserError becomes one line on stderr and exit code 2.

    Warnings of libraries (scikit-learn, numpy) are held until the command ends: after its output
    when it succeeds, in the error's log file (named on its line) when it fails, never printed
    before the error. layerprobe's own warnings print as they come.
    """
    shown = warnings.showwarning
    held: list[warnings.WarningMessage] = []

    def hold(message, category, filename, lineno, file=None, line=None) -> None:
        if _own_file(filename):
            shown(message, category, filename, lineno, file, line)
        else:
            held.append(warnings.WarningMessage(message, category, filename, lineno, file, line))

    try:
        with warnings.catch_warnings():
            warnings.showwarning = hold
            code = run(parser.parse_args(argv)) or 0
    except UserError as error:
        print(f"error: {one_line(str(error), held)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`probe ... | head`): point stdout at devnull so that the interpreter's
        # final flush does not raise again (the recipe of Python's signal documentation).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    for warning in held:
        shown(warning.message, warning.category, warning.filename, warning.lineno, warning.file, warning.line)
    return code


def _own_file(filename: str) -> bool:
    """Whether a warning's file is layerprobe's code. The repo root is the package, so its tests and a
    virtualenv made there (.venv, the README's setup) sit inside it: they are not layerprobe's own."""
    relative = os.path.relpath(os.path.abspath(filename), _PACKAGE)
    first = relative.split(os.sep)[0]
    return not (relative.startswith(os.pardir) or first.startswith(".") or first == "tests")


def one_line(message: str, held: Sequence[warnings.WarningMessage] = ()) -> str:
    """An error as one line of at most SHOWN_CHARS characters (a crafted label list or path list
    made "one-line" errors of 5 MB). A longer or multi-line message, or one that library warnings
    came before, is written whole with those warnings to a log file in the temporary folder, and
    the line names it."""
    flat = " ".join(message.splitlines())
    if len(flat) <= SHOWN_CHARS and flat == message and not held:
        return message
    cut = flat if len(flat) <= SHOWN_CHARS else f"{flat[:SHOWN_CHARS]}..."
    try:
        descriptor, log = tempfile.mkstemp(prefix="layerprobe-error-", suffix=".log")
        with os.fdopen(descriptor, "w", encoding="utf-8", errors="backslashreplace") as file:
            file.write(message + "\n")
            for warning in held:
                file.write("\n" + warnings.formatwarning(warning.message, warning.category, warning.filename,
                                                         warning.lineno, warning.line))
    except OSError:
        return cut
    what = "the whole message" if cut != message else "the message"
    if held:
        what += f" and the {len(held)} library warning(s) before it"
    return f"{cut} ({what}: {log})"

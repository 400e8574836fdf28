"""Files that are either whole or absent: write beside the target, fsync, then rename over it.

A kill, a full disk or an I/O error never leaves a truncated results file that a later run would
read as current: the old file stays in place until the new one is complete on disk, and the
temporary file is removed on any error. writable_folder finds an unwritable destination before the
work whose results go there starts. A process killed while writing leaves its temporary file; the
next write into that folder (or writable_folder on it) on the same machine removes it, once its process is gone.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from layerprobe.errors import UserError

# The temporary atomic_path names: ".NAME.HOST-PID.tmp" and NAME's suffix. The host, because a folder every node
# of a Ray cluster sees holds the temporaries of processes on other machines, whose ids say nothing here.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>[1-9][0-9]{0,9})\.tmp(?P<suffix>.*)$")


def _host() -> str:
    """This machine's name as it goes into a temporary's (letters, digits and hyphens)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Replace `path` with `text` (UTF-8) atomically; returns the path. Raises UserError on a write error."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Replace `path` with `data` atomically; returns the path. Raises UserError on a write error."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            file.write(data)
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder for any writer (savefig, np.savez, h5py); when the
    block ends without an error, the file is synced and renamed onto `path`.

    The temporary keeps `path`'s suffix, since some writers choose the format by it. On any error
    the temporary is removed; an OSError becomes a UserError naming `path` and the cause.
    """
    target = Path(path)
    remove_litter(target.parent)
    # Hidden and named for this process: never read as a result, never shared with another writer.
    temporary = target.with_name(f".{target.name}.{_host()}-{os.getpid()}.tmp{target.suffix}")
    try:
        yield temporary
        sync(temporary)
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise write_error(target, error) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def writable_folder(folder: str | os.PathLike) -> Path:
    """`folder`, created if need be, once a file could be written in it; else a UserError. Call it
    before the long work whose results go there: an unwritable --out is found first, not last."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder} is a file; give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError(f"cannot write in {folder}: {error.strerror or error}") from None
    remove_litter(folder)
    return folder


def remove_litter(folder: Path) -> None:
    """Remove the temporary files atomic_path made in `folder` for processes of this machine that have
    ended (killed while writing). Only names of exactly its pattern go, and only where no process of
    that id runs here, so a user's file, a live writer's temporary and another machine's stay."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    host = _host()
    for name in names:
        found = _TEMPORARY.match(name)
        if (found and found["suffix"] == Path(found["name"]).suffix and found["host"] == host
                and not _running(int(found["pid"]))):
            with contextlib.suppress(OSError):
                os.unlink(folder / name)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another account's process, or a number no process has: leave it
        return True
    return True


def sync(path: Path) -> None:
    """Force `path`'s bytes to the disk: a full disk or an I/O error surfaces here, not later."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_error(path: Path, error: OSError) -> UserError:
    """The one line a user sees when `path` cannot be written."""
    cause = error.strerror or str(error)
    return UserError(f"cannot write {path}: {cause}")

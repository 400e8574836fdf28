"""HDF5 files that survive `kill -9` and a full disk (the rules every cache writer follows).

- Structure is never changed in a live file: a new file is built beside its target, its storage
  allocated (contiguous, early) and reserved on disk (posix_fallocate), then renamed into place.
  Writing values in place afterwards touches no HDF5 metadata and needs no new space.
- Every write and flush is checked (h5py only prints errors raised when a dataset handle is
  garbage collected), so a write error stops a run before a status says "ok".
- One writer at a time: a lock file beside the target. Readers are not locked out: they trust
  only rows whose status says "ok", which are never written again.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import h5py
from filelock import FileLock, Timeout

from layerprobe.atomic_write import atomic_path, sync
from layerprobe.errors import UserError

METADATA_BYTES = 256 * 1024  # a generous bound on a file's object headers, heaps and indexes
# HDF5 wraps the system's reason in a long message: "... errno = 28, error message = 'No space left on device', ..."
_HDF5_CAUSE = re.compile(r"error message = '([^']*)'")


def contiguous(group: h5py.Group, name: str, shape: tuple, dtype) -> h5py.Dataset:
    """A dataset whose storage exists from the start, so writing values never touches metadata."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return group.create_dataset(name, shape=shape, dtype=dtype, dcpl=dcpl, track_times=False)


def storage_error(path: Path, error: Exception) -> UserError:
    """One line naming the file and the system's reason, from an h5py OSError or RuntimeError."""
    found = _HDF5_CAUSE.search(str(error))
    if found:
        cause = found.group(1)
    elif isinstance(error, OSError) and error.errno:
        cause = os.strerror(error.errno)
    else:
        cause = str(error).splitlines()[0]
    return UserError(f"cannot write {path}: {cause}")


@contextlib.contextmanager
def replacing(path: Path, needed: int) -> Iterator[Path]:
    """A temporary path for a new HDF5 file of about `needed` bytes that replaces `path` once
    complete; on any error the temporary is removed and a UserError names `path` and the cause.

    A disk without `needed` bytes free is refused before anything is written: while HDF5 builds a
    file's structure it cannot always report a full disk (h5py prints the error and may crash).
    """
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise UserError(f"cannot write {path}: No space left on device "
                        f"(it needs about {needed / 1e6:.2f} MB, {free / 1e6:.2f} MB are free)")
    with atomic_path(path) as temporary:
        try:
            yield temporary
        except (OSError, RuntimeError) as error:  # h5py raises RuntimeError when a flush fails
            raise storage_error(path, error) from None


def reserve(file: h5py.File, path: Path) -> None:
    """Once every dataset of a new file exists, allocate all its blocks on disk, before any value
    is written: from here on no write needs space. Without this the file is sparse, and on a full
    disk a value written later fails only when HDF5 flushes it, where h5py cannot always raise."""
    file.flush()  # sets the file's length to the end of its last dataset
    descriptor = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(descriptor, 0, os.fstat(descriptor).st_size)
    except OSError as error:
        # A file system that cannot reserve space (some network and copy-on-write ones) still gets
        # every flush checked; only a full disk is an error here.
        if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(descriptor)


def checked_flush(file: h5py.File, shown: Path) -> None:
    """Flush `file` and sync it to the disk, so what was written is known to be there; a write
    error (full disk, quota, I/O) becomes a UserError naming `shown` (the cache the file is part of)."""
    try:
        file.flush()
        sync(Path(file.filename))
    except (OSError, RuntimeError) as error:
        raise storage_error(shown, error) from None


def checked_write(dataset: h5py.Dataset, rows, values, path: Path) -> None:
    """dataset[rows] = values; a write error becomes a UserError naming `path`."""
    try:
        dataset[rows] = values
    except (OSError, RuntimeError) as error:
        raise storage_error(path, error) from None



class WriterLock:
    """The writer lock of the cache at `path`, held from creation (or refused) until release (or
    the process dying); release removes its file, so none is left beside a cache no one writes.

    wait: seconds to wait for a holder to finish before refusing (another writer runs for long;
    a moment covers a reader removing a stale lock file, see remove_stale_lock).
    """

    def __init__(self, path: Path, wait: float = 1.0):
        self._lock = FileLock(f"{path}.lock", timeout=wait)
        try:
            self._lock.acquire()
        except Timeout:
            # filelock also waits out a lock file it cannot create (in /proc, a folder without
            # write permission): that is not another writer.
            cause = _uncreatable(Path(self._lock.lock_file))
            if cause:
                raise UserError(f"cannot write {self._lock.lock_file}: {cause}") from None
            raise UserError(f"{path} is being written by another process (its lock {self._lock.lock_file} is held)") from None
        except OSError as error:  # a read-only or missing folder
            raise UserError(f"cannot write {self._lock.lock_file}: {error.strerror or error}") from None

    def release(self) -> None:
        # Unlinked while still held: a writer that opened the old file and locks it once released
        # finds it unlinked and takes a new one (filelock checks), so two never both hold the lock.
        with contextlib.suppress(OSError):
            os.unlink(self._lock.lock_file)
        self._lock.release()


def _uncreatable(lock_file: Path) -> str | None:
    """Why `lock_file` cannot be opened for writing, None if it can (then another process holds it)."""
    try:
        os.close(os.open(lock_file, os.O_WRONLY | os.O_CREAT, 0o644))
    except OSError as error:
        cause = error.strerror or str(error)
        if error.errno == errno.ENOENT and lock_file.parent.is_dir():
            cause += f" ({lock_file.parent} is a folder that takes no new files)"
        return cause
    return None


def remove_stale_lock(path: Path) -> None:
    """Remove the lock file a killed writer left beside `path`; a held lock, or one this process
    cannot write (a read-only folder), is left as it is."""
    if os.path.exists(f"{path}.lock"):
        with contextlib.suppress(UserError):
            WriterLock(path, wait=0).release()


def open_for_writing(path: Path) -> h5py.File:
    """A live file opened to write values in place, or a UserError saying why it cannot be.

    Without HDF5's file lock: readers may open the cache while it is written, since no metadata
    changes in a live file and a row's status says "ok" only once its values are flushed; writers
    are kept apart by lock().
    """
    try:
        return h5py.File(path, "r+", locking=False)
    except OSError as error:
        raise storage_error(path, error) from None

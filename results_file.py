"""A results document on disk: its JSON (probe_results.json, baseline_results.json) and, beside it,
the side file of its records' per-class decision scores, NAME.scores-DIGEST.npz.

Decision scores are n x K float32 numbers a record: 1,251 speakers x 10,000 clips are 50 MB, which
inline in base64 made a 160 MB JSON that every reader parsed whole. The JSON names its side file and
the digest of its arrays (`scores_file`); the side file holds the same digest, and its name carries
it, so a new run's side file never replaces the one an older JSON names. The side file is written
first and the JSON after it, each atomically, then the side files no JSON names any more go: a kill
at any point leaves a JSON whose side file is there and its own. A side file that is missing,
changed or another run's is refused in one line on read. Plain arrays only: np.load(allow_pickle=False).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from layerprobe.atomic_write import atomic_path, write_text_atomic
from layerprobe.errors import UserError
from layerprobe.results import FORMAT, Document, ScoresFile

# The side file's member holding the digest; the others are the scores (Document.score_members).
DIGEST_MEMBER = "digest"


def side_name(path: Path, digest: str) -> str:
    """The side file of the document at `path` whose scores have `digest`."""
    return f"{path.stem}.scores-{digest}.npz"


def scores_digest(arrays: dict[str, np.ndarray]) -> str:
    """The digest binding a JSON to its side file: of every member's name, shape and float32 bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for member in sorted(arrays):
        block = np.ascontiguousarray(arrays[member])
        digest.update(f"{member}:{block.dtype.str}:{block.shape};".encode())
        digest.update(memoryview(block).cast("B"))
    return digest.hexdigest()


def write_document(doc: Document, path: str | os.PathLike[str]) -> Document:
    """Write `doc` to `path` (JSON) with its scores in the side file beside it; returns the document
    as written (format FORMAT, `scores_file` set where it has scores)."""
    path = Path(path)
    if any(fold.stored is not None for record in doc.results for fold in record.predictions):
        raise UserError(f"cannot write {path}: the document was read without its scores (read_document(..., "
                        "scores=True) reads them)")
    arrays = doc.score_members()[1]
    doc = replace(doc, format=FORMAT, scores_file=None)
    if arrays:
        digest = scores_digest(arrays)
        side = path.with_name(side_name(path, digest))
        with atomic_path(side) as temporary:
            np.savez(temporary, **{DIGEST_MEMBER: np.array(digest)}, **arrays)
        doc = replace(doc, scores_file=ScoresFile(side.name, digest))
    write_text_atomic(path, json.dumps(doc.to_dict(), indent=1))
    _remove_other_side_files(path, doc.scores_file)
    return doc


def read_document(path: str | os.PathLike[str], *, scores: bool = True) -> Document:
    """The document at `path`, with its records' scores read from its side file (format 3) or from
    the JSON (format 2); scores=False leaves a side file unread (the scores stay None).

    Raises UserError, one line naming the file, for unreadable JSON, a missing side file, or one
    that is not this document's (another run's, or changed since).
    """
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    if not isinstance(d, dict):
        raise UserError(f"{path} should hold a JSON object")
    reference = d.get("scores_file") if scores else None
    try:
        return Document.from_dict(d, read_scores(path, ScoresFile.from_dict(reference)) if reference else None)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    except (KeyError, TypeError, AttributeError) as error:
        raise UserError(f"{path} is malformed ({error!r}): not a results document this version reads") from None


def read_scores(path: Path, reference: ScoresFile) -> dict[str, np.ndarray]:
    """The members of the side file `reference` names beside `path`, checked against its digest."""
    if Path(reference.name).name != reference.name or not reference.name.endswith(".npz"):
        raise UserError(f"scores_file {reference.name!r} is not a plain .npz name beside the document")
    side = path.with_name(reference.name)
    try:
        with np.load(side, allow_pickle=False) as stored:
            arrays = {member: stored[member] for member in stored.files}
    except FileNotFoundError:
        raise UserError(f"its decision scores are in {side.name}, which is missing: run the stage again") from None
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read its scores file {side.name}: {error}") from None
    written = arrays.pop(DIGEST_MEMBER, None)
    if written is None or str(written) != reference.digest or scores_digest(arrays) != reference.digest:
        raise UserError(f"{side.name} is not the scores file of this document (another run's, or changed since): "
                        "run the stage again")
    return arrays


def _remove_other_side_files(path: Path, keep: ScoresFile | None) -> None:
    """Remove the side files of `path` other than `keep`'s: those of the documents it replaced."""
    pattern = re.compile(re.escape(path.stem) + r"\.scores-[0-9a-f]{32}\.npz")
    with contextlib.suppress(OSError):
        for name in os.listdir(path.parent):
            if pattern.fullmatch(name) and (keep is None or name != keep.name):
                with contextlib.suppress(OSError):
                    os.unlink(path.parent / name)

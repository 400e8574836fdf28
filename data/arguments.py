"""The manifest column flags, shared by every command that reads a dataset."""
from __future__ import annotations

import argparse


def add_column_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path-column", help="manifest column with audio paths (default: path)")
    parser.add_argument("--label-column", help="manifest column with labels (default: label)")
    parser.add_argument("--group-column",
                        help="speaker/actor/session column (default: group, else speaker, speaker_id, client_id, actor)")
    parser.add_argument("--split-column", help="train/validation/test column (default: split if present)")


def column_kwargs(args: argparse.Namespace) -> dict:
    """The column flags as load_manifest's keyword arguments."""
    return dict(path_column=args.path_column, label_column=args.label_column, group_column=args.group_column,
                split_column=args.split_column)

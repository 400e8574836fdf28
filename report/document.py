"""A report as a list of plain blocks, rendered once as Markdown and once as self-contained HTML.

The content is written once (sections.py builds the blocks); only the markup differs here. Text is
plain: no inline markup, so both renderers stay a few lines each and nothing needs unescaping. Both
escape what they print, since labels, feature names, paths and commands come from the user's files:
HTML escapes it all; Markdown keeps each block on its line, keeps a table cell in its cell, and lets
no tag or link through (see _md).
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    """A section title; level 1 is the report's title."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Note:
    """A paragraph set apart: a caveat the reader must not miss (missing inputs, random weights)."""

    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    """A PNG next to the report; Markdown links it, HTML embeds it."""

    path: Path
    caption: str


Block = Heading | Paragraph | Note | Bullets | Table | Image

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222;
       line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
blockquote { border-left: 4px solid #d9822b; margin: 0.8rem 0; padding: 0.3rem 0.8rem; background: #fdf6ec; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; }
figcaption { color: #555; font-size: 0.9rem; }
"""


def to_markdown(blocks: list[Block]) -> str:
    """Markdown (GitHub flavour); images are linked by file name, relative to the report."""
    return "\n\n".join(_markdown(block) for block in blocks) + "\n"


def to_html(blocks: list[Block], title: str) -> str:
    """One HTML page with no external reference: inline style, images as base64 data URIs."""
    body = "\n".join(_html(block) for block in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {_md(block.text)}"
    if isinstance(block, Paragraph):
        return _md(block.text)
    if isinstance(block, Note):
        return f"> {_md(block.text)}"
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md(item)}" for item in block.items)
    if isinstance(block, Table):
        lines = [block.header, ["---"] * len(block.header), *block.rows]
        return "\n".join("| " + " | ".join(_md(cell, cell=True) for cell in line) + " |" for line in lines)
    return f"![{_md(block.caption)}]({block.path.name})\n\n*{_md(block.caption)}*"


def _md(text: str, *, cell: bool = False) -> str:
    """Text as Markdown shows it literally: line breaks become spaces (a newline would end the block or
    the table row), backslashes doubled (none escapes what follows), `<` an entity (no raw HTML, no
    autolink), `](` escaped (no inline link); in a table cell, pipes escaped (a pipe would end the cell)."""
    text = " ".join(text.splitlines()).replace("\\", "\\\\").replace("<", "&lt;").replace("](", "\\](")
    return text.replace("|", "\\|") if cell else text


def _html(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Note):
        return f"<blockquote>{html.escape(block.text)}</blockquote>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{html.escape(item)}</li>" for item in block.items) + "\n</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
        rows = "\n".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                         for row in block.rows)
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
    data = base64.b64encode(block.path.read_bytes()).decode("ascii")
    caption = html.escape(block.caption)
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption></figure>")

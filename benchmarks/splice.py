"""Put one section measured alone into an existing RESULTS.md: its block, its rows of the
targets table and a line under the header saying which command wrote them, everything
else left as it was (``python -m benchmarks --only refused``)."""

from __future__ import annotations

import re

TARGETS_TITLE = "## Results against the targets"


def splice_section(existing: str, title: str, lines: list[str], after: str) -> str:
    """``existing`` with the section whose heading starts with ``title`` replaced by ``lines``;
    a new one goes after the section whose heading starts with ``after`` (else at the end)."""
    block = "\n".join(lines).rstrip("\n") + "\n\n"
    own = re.compile(rf"^{re.escape(title)}.*?(?=^## |\Z)", re.S | re.M)
    if own.search(existing):
        return own.sub(lambda _: block, existing, count=1).rstrip("\n") + "\n"
    neighbour = re.compile(rf"^{re.escape(after)}.*?(?=^## |\Z)", re.S | re.M).search(existing)
    at = neighbour.end() if neighbour else len(existing)
    return (existing[:at].rstrip("\n") + "\n\n" + block + existing[at:]).rstrip("\n") + "\n"


def splice_rows(existing: str, prefix: str, rows: list[str], after: str) -> str:
    """The targets table with its rows whose figure starts with ``prefix`` replaced by ``rows``
    (Markdown lines), placed after the last row whose figure starts with ``after`` (else last)."""
    lines = existing.split("\n")
    start = lines.index(TARGETS_TITLE)
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("| "))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("| ")), len(lines))
    table = [line for line in lines[first:end] if not line.startswith(f"| {prefix}")]
    anchors = [i for i, line in enumerate(table) if line.startswith(f"| {after}")]
    at = anchors[-1] + 1 if anchors else len(table)
    table[at:at] = rows
    return "\n".join([*lines[:first], *table, *lines[end:]])


def splice_note(existing: str, marker: str, note: str) -> str:
    """``note`` (starting with ``marker``) as the paragraph after the header's first one, in
    place of an earlier note with the same marker."""
    paragraphs = existing.split("\n\n")
    kept = [p for p in paragraphs if not p.startswith(marker)]
    written = next((i for i, p in enumerate(kept) if p.startswith("Written by")), 0)
    kept.insert(written + 1, note)
    return "\n\n".join(kept)

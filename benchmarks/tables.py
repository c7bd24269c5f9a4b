"""Plain renderers for the report: Markdown and console tables, and a memory sparkline."""

from __future__ import annotations


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """The same table for the console: columns padded, Markdown bold dropped."""
    plain = [[cell.replace("**", "") for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in plain) for i in range(len(header))]
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in plain]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def sparkline(timeline: list[tuple[float, float]], width: int = 60) -> str:
    """(seconds, MB) samples as ``width`` marks, each the highest sample in its slice of time."""
    if not timeline:
        return ""
    end = timeline[-1][0] or 1.0
    buckets = [0.0] * width
    for moment, rss in timeline:
        k = min(width - 1, int(moment / end * width))
        buckets[k] = max(buckets[k], rss)
    top = max(buckets) or 1.0
    marks = " ▁▂▃▄▅▆▇█"
    return "".join(marks[round(value / top * (len(marks) - 1))] for value in buckets)

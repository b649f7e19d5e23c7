"""One way to write a Markdown table: :func:`markdown_table`. Every table a notebook or a benchmark
prints goes through it, so alignment and escaping are the same everywhere."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["markdown_table"]

_RULE = {"l": "---", "r": "---:", "c": ":---:"}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> str:
    """A Markdown table with ``header`` and one line per row of ``rows`` (cells are formatted with
    ``str``; format numbers before passing them). ``align`` gives one letter per column, ``l``, ``r``
    or ``c`` (default: all left). A ``|`` inside a cell is escaped so it cannot split the cell.

    >>> print(markdown_table(["T", "SNR"], [[1000, "1e-5"]], align="rr"))
    | T | SNR |
    |---:|---:|
    | 1000 | 1e-5 |
    """
    header = [str(h) for h in header]
    if not header:
        raise ValueError("header must name at least one column, got an empty header")
    align = "l" * len(header) if align is None else align
    if len(align) != len(header) or set(align) - set(_RULE):
        raise ValueError(f"align must be one of 'l', 'r', 'c' per column ({len(header)} columns), got {align!r}")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(_RULE[a] for a in align) + "|"]
    for i, row in enumerate(rows):
        cells = [str(c).replace("|", "\\|") for c in row]
        if len(cells) != len(header):
            raise ValueError(f"row {i} has {len(cells)} cells, the header {len(header)}: {cells!r}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)

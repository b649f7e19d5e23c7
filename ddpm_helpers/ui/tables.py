"""One way to write a Markdown table: :func:`markdown_table`. Every table a notebook or a benchmark
prints goes through it, so alignment and escaping are the same everywhere.

Image quality as the image notebooks (04, 06, 07) print it, from :mod:`ddpm_helpers.core.metrics`' dicts:

* :func:`quality_markdown`: FID and KID of several sample sets as a Markdown table.
* :func:`quality_ci_markdown`: the same with error bars, beside the real-against-real floor at the same n.
* :func:`quality_reading`: one sentence saying whether a FID is distinguishable from the floor.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["markdown_table", "quality_markdown", "quality_ci_markdown", "quality_reading"]

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


def quality_markdown(rows: dict) -> str:
    """A Markdown table of FID/KID results: ``{label: image_quality-style dict}`` (fid, kid, kid_std, n)."""
    return markdown_table(["images", "n", "FID", "KID (x 1e3)"],
                          [[label, q["n"], f"{q['fid']:.2f}", f"{1e3 * q['kid']:.1f} ± {1e3 * q['kid_std']:.1f}"]
                           for label, q in rows.items()])


def quality_reading(q: dict, floor: dict) -> str:
    """One sentence that reads a FID/KID against the floor at the same n, with both error bars
    (``metrics.image_quality_ci`` and ``metrics.real_floor_spread`` dicts)."""
    if q["n"] != floor["n"]:
        raise ValueError(f"compare at equal n: the samples have n={q['n']}, the floor n={floor['n']}")
    sd = math.hypot(q.get("fid_std", 0.0), floor.get("fid_std", 0.0))
    gap = q["fid"] - floor["fid"]
    if q["fid"] < floor["fid"] and abs(gap) <= 2 * sd:
        fid = (f"FID {q['fid']:.2f} is below the floor {floor['fid']:.2f}, but by less than 2 error bars "
               f"({2 * sd:.2f}): at n = {q['n']} the two are indistinguishable (FID's bias and noise at small n, "
               f"not a sampler better than real data)")
    elif abs(gap) <= 2 * sd:
        fid = (f"FID {q['fid']:.2f} is within 2 error bars ({2 * sd:.2f}) of the floor {floor['fid']:.2f}: "
               f"indistinguishable from real images at n = {q['n']}")
    elif gap < 0:
        fid = (f"FID {q['fid']:.2f} is more than 2 error bars below the floor {floor['fid']:.2f}: look for a bug "
               f"(samples copied from the reference set?)")
    else:
        fid = (f"FID {q['fid']:.2f} is {q['fid'] / max(floor['fid'], 1e-12):.1f}x the floor {floor['fid']:.2f}, "
               f"{gap / max(sd, 1e-12):.1f} error bars above it")
    kid = q["kid"]
    if kid < 0:
        kid_s = (f"KID {1e3 * kid:.1f}e-3 is negative: KID is an unbiased estimate of a squared distance that is "
                 f">= 0, so a negative value means 'zero within noise' (± {1e3 * q.get('kid_std', 0):.1f}e-3)")
    else:
        kid_s = f"KID {1e3 * kid:.1f}e-3 ± {1e3 * q.get('kid_std', 0):.1f}e-3"
    return f"{fid}; {kid_s}."


def quality_ci_markdown(rows: dict, floor: dict) -> str:
    """A Markdown table of ``{label: image_quality_ci dict}`` beside the floor (``real_floor_spread``) at the
    same n: n, FID ± its bootstrap spread, FID / floor, KID x 1e3 ± spread, and the floor row with its
    spread over independent draws of real images."""
    def row(label: str, q: dict, ratio: str) -> list:
        return [label, q["n"], f"{q['fid']:.2f} ± {q.get('fid_std', float('nan')):.2f}", ratio,
                f"{1e3 * q['kid']:.1f} ± {1e3 * q.get('kid_std', float('nan')):.1f}"]

    rows_out = []
    for label, q in rows.items():
        if q["n"] != floor["n"]:
            raise ValueError(f"{label}: compare at equal n, got n={q['n']} against a floor at n={floor['n']}")
        rows_out.append(row(label, q, f"{q['fid'] / max(floor['fid'], 1e-12):.2f}"))
    rows_out.append(row(f"floor: {floor.get('seeds', 1)} draws of real training images", floor, "1.00"))
    return markdown_table(["images", "n", "FID ± sd", "FID / floor", "KID (x 1e3) ± sd"], rows_out)

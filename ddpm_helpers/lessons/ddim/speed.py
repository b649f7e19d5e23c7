"""Notebook 06's speed-quality table: time each sampler on the same starting noise, score it with FID/KID,
and read the result against the table pre-measured on a CPU (shipped in ``ddpm_helpers/weights/``) and
against FID's own noise at that n.

``benchmarks/ddim_table.py`` runs :func:`speed_quality_table` at larger n.
"""
from __future__ import annotations

import json
import math
import time

import numpy as np
import torch

from ...core.checks import check_int, check_number
from ...core.metrics import image_quality
from ...core.paths import WEIGHTS_DIR
from ...core.sampling import ddim_sample, ddim_timesteps, ddpm_sample
from ...core.schedules import NoiseSchedule
from ...ui.tables import markdown_table

__all__ = ["speed_quality_table", "format_table", "own_table_reading", "premeasured_table", "table_beside_premeasured",
           "premeasured_reading", "premeasured_weights_note"]

PREMEASURED_TABLE = WEIGHTS_DIR / "fashion_unet.ddim_table.json"


def _seed_of(generator) -> int:
    if generator is None:
        return 0
    if isinstance(generator, torch.Generator):
        return generator.initial_seed()
    if isinstance(generator, int) and not isinstance(generator, bool):
        return generator
    raise ValueError(f"generator must be None, an int seed or a torch.Generator, got {generator!r}")


def speed_quality_table(model, sched: NoiseSchedule, n: int, steps_list=(10, 20, 50, 100, 250),
                        etas=(0.0, 0.5, 1.0), include_ddpm: bool = True, generator=None,
                        batch_size: int = 256, reference: str = "test", classifier=None,
                        metrics: bool = True, shape=None, progress: bool = False,
                        return_samples: bool = False) -> list[dict]:
    r"""Time each sampler on ``n`` images and score them with FID/KID.

    Rows: DDPM with all T steps (when ``include_ddpm``), then DDIM for every ``steps`` in
    ``steps_list`` and every ``eta`` in ``etas``. Every row starts from the same x_T, drawn from
    the seed of ``generator`` (an int or a ``torch.Generator``; None means 0), and draws its
    per-step noise from streams seeded with seed + 1 + batch index, so rows differ only by the sampler.
    ``shape`` is one image's (C, H, W) (read from ``model.config`` of a U-Net when None). ``seconds`` is the
    wall time of sampling alone; ``fid``/``kid``/``kid_std`` come from ``ddpm_helpers.core.metrics.image_quality``
    (skipped when ``metrics=False``).

    Returns a list of dicts with keys sampler, steps, eta, n, seconds, images_per_second,
    model_calls, and fid, kid, kid_std; with ``return_samples`` also ``samples``, the row's (n, C, H, W)
    images (row i's image j and row k's image j share x_T: :func:`ddpm_helpers.core.metrics.paired_fid_bootstrap`
    uses that to tell rows apart). Shapes: samples are (n, 1, 28, 28) for FashionMNIST.
    """
    check_int("n", n, 2, what="images per row")
    check_int("batch_size", batch_size, 1)
    for k in steps_list:
        ddim_timesteps(sched.T, k)  # validates every entry (1..T)
    for e in etas:
        check_number("every eta", e, lo=0.0)
    seed = _seed_of(generator)
    if shape is None:
        cfg = getattr(model, "config", None)
        if cfg is None or not hasattr(cfg, "image_size"):
            raise ValueError("shape must be given (C, H, W) for a model without a UNetConfig in model.config")
        shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
    shape = tuple(shape)
    runs = [("DDPM", sched.T, 1.0)] if include_ddpm else []
    runs += [("DDIM", k, float(e)) for k in steps_list for e in etas]
    rows = []
    for sampler, k, eta in runs:
        # 1. the same starting noise for every row; the per-step noise from a second stream
        x_T = torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed), device="cpu")  # (n, C, H, W)
        chunks = []
        t0 = time.perf_counter()
        for i, start in enumerate(range(0, n, batch_size)):
            xb = x_T[start:start + batch_size]
            g = torch.Generator().manual_seed(seed + 1 + i)  # one noise stream per batch
            # 2. sample (timed)
            if sampler == "DDPM":
                x = ddpm_sample(model, sched, xb, generator=g, progress=progress).x0
            else:
                x = ddim_sample(model, sched, xb, steps=k, eta=eta, generator=g, progress=progress).x0
            chunks.append(x)
        seconds = time.perf_counter() - t0
        samples = torch.cat(chunks)
        row = {"sampler": sampler, "steps": k, "eta": eta, "n": n, "seconds": seconds,
               "images_per_second": n / max(seconds, 1e-9), "model_calls": k}
        if metrics:  # notebook 04's FID/KID
            q = image_quality(samples, reference=reference, classifier=classifier)
            row.update(fid=float(q["fid"]), kid=float(q["kid"]), kid_std=float(q["kid_std"]))
        if return_samples:
            row["samples"] = samples
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`speed_quality_table` as a Markdown table. The cost is the model calls (and how many
    times fewer than the DDPM row, when there is one); the seconds are this run's single wall-time measurement."""
    ddpm = next((r for r in rows if r["sampler"] == "DDPM"), None)
    has_q = any("fid" in r for r in rows)
    header = (["sampler", "steps", "eta", "n", "model calls", "calls vs DDPM", "seconds (this run)"]
              + (["FID", "KID (x1000)"] if has_q else []))
    lines = []
    for r in rows:
        up = f"{ddpm['model_calls'] / r['model_calls']:.0f}x fewer" if ddpm and r is not ddpm else "-"
        cells = [r["sampler"], r["steps"], f"{r['eta']:g}", r["n"], r["model_calls"], up, f"{r['seconds']:.1f}"]
        if has_q:
            cells += ([f"{r['fid']:.1f}", f"{1000 * r['kid']:.1f} ± {1000 * r['kid_std']:.1f}"]
                      if "fid" in r else ["-", "-"])
        lines.append(cells)
    return markdown_table(header, lines, align="lrrrrrr" + "rr" * has_q)


def own_table_reading(rows: list[dict], floor: dict) -> str:
    r"""What this run's speed-quality table (:func:`speed_quality_table` at its own n) allows one to say, worded
    from its uncertainty. FID moves by ``floor["fid_std"]`` between independent draws of n real images
    (``real_floor_spread``); two FIDs that each move that much differ by more than 2 \sqrt 2 times it only
    about 5 % of the time, so that is the smallest difference counted. Returns Markdown: which rows can be
    told apart from each other and from real images at this n, or that none can."""
    if not rows or any("fid" not in r for r in rows):
        raise ValueError("rows must be speed_quality_table rows with FID (metrics=True), got none or rows without")
    n = rows[0]["n"]
    if floor.get("n") != n or any(r["n"] != n for r in rows):
        raise ValueError(f"compare at equal n: the rows have n={[r['n'] for r in rows]}, the floor n={floor.get('n')}")
    thr = 2 * math.sqrt(2) * floor["fid_std"]

    def name(r):
        return "DDPM-1000" if r["sampler"] == "DDPM" else f"DDIM {r['steps']}/η={r['eta']:g}"
    ranked = sorted(rows, key=lambda r: r["fid"])
    apart = [f"{name(a)} (FID {a['fid']:.1f}) better than {name(b)} ({b['fid']:.1f})"
             for i, a in enumerate(ranked) for b in ranked[i + 1:] if b["fid"] - a["fid"] > thr]
    above = [name(r) for r in ranked if r["fid"] - floor["fid"] > thr]
    head = (f"At n = {n}, FID moves by ±{floor['fid_std']:.2f} between {floor.get('seeds', '?')} draws of {n} real "
            f"images (floor {floor['fid']:.2f}), so two FIDs must differ by more than 2√2 × {floor['fid_std']:.2f} = "
            f"{thr:.2f} to be told apart. The rows' FIDs span {ranked[0]['fid']:.2f}–{ranked[-1]['fid']:.2f}.")
    if not apart and not above:
        return (f"{head} **No two rows of this run can be told apart, and none from real images**: at this n the "
                f"table shows that the samplers run, not which is better (the pre-measured n = 512 table below "
                f"does).")
    lines = [head]
    lines.append("- told apart at this n: " + ("; ".join(apart) if apart else "no two rows"))
    lines.append("- further above the real-image floor than that: " + (", ".join(above) if above else "no row"))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the pre-measured table
def premeasured_table() -> dict:
    """Notebook 06's speed-quality table pre-measured on a CPU (``weights/fashion_unet.ddim_table.json``: what,
    where, when, at which n, under which conditions, the command of each row, the floor with its spread over
    draws, each row's FID with its bootstrap spread and its paired difference to the DDPM row). Shipped with
    the package, so the notebook can print it beside its own run in Colab too."""
    return json.loads(PREMEASURED_TABLE.read_text())


def premeasured_weights_note(pre: dict, meta: dict) -> str:
    """Markdown: whether the pre-measured table belongs to the weights loaded here (``meta`` of
    ``load_pretrained``), compared by their training steps. The speed columns (model calls, seconds) depend
    only on the architecture; the FID/KID columns belong to the weights that were measured."""
    measured, loaded = pre.get("weights_steps"), meta.get("steps")
    where = (f"Measured with `python benchmarks/ddim_table.py --n {pre['n']}` on {pre.get('hardware', '?')}, "
             f"{pre.get('date', '?')}, commit {pre.get('commit', '?')}; conditions: {pre.get('conditions', '?')}.")
    if measured == loaded:
        return f"The table was measured with these same weights ({loaded} training steps). {where}"
    return (f"{where}\n\n**The table was measured with earlier shipped weights** ({measured} training steps); "
            f"the U-Net loaded above has {loaded}. Its FID and KID columns belong to those earlier weights; the speed "
            f"columns (model calls, seconds) depend only on the architecture, which is the same. "
            f"`python benchmarks/ddim_table.py --n {pre['n']}` re-measures it for the weights shipped now "
            f"(about an hour of an idle 2-core CPU).")


def _speed_up(row: dict, ddpm: dict) -> str:
    """How much cheaper than DDPM-1000, counted in model calls: the cost that does not move with the machine's
    load (one idle timing per row is not that precise: :func:`_timing_spread`)."""
    return f"{ddpm['model_calls'] / row['model_calls']:.0f}x fewer model calls"


def _two_digits(v: float) -> str:
    """A timing rounded to two significant digits (587.2 -> 590, 9.18 -> 9.2): one run's wall time is not more
    precise than that."""
    if v <= 0:
        return f"{v:g}"
    digits = max(0, 1 - int(math.floor(math.log10(v))))
    return f"{round(v, 1 - int(math.floor(math.log10(v)))):.{digits}f}"


def _timing_spread(pre: dict) -> tuple[float, int, float, float] | None:
    """The largest relative spread of the idle timings among pre-measured rows with the same model calls (the
    same work, one timing each): ``(spread, calls, fastest, slowest)``, or None without two such rows."""
    groups: dict[int, list[float]] = {}
    for r in pre["rows"]:
        if r.get("seconds_128_idle"):
            groups.setdefault(r["model_calls"], []).append(r["seconds_128_idle"])
    best = None
    for calls, secs in groups.items():
        if len(secs) > 1 and (best is None or max(secs) / min(secs) - 1 > best[0]):
            best = (max(secs) / min(secs) - 1, calls, min(secs), max(secs))
    return best


def table_beside_premeasured(rows: list[dict], pre: dict | None = None) -> str:
    """A Markdown table: every pre-measured row and, beside it, this run's row for the same sampler, steps and
    eta (:func:`speed_quality_table`, its own n; '-' where this run has no such row). Pre-measured columns:
    model calls, seconds for 128 images on an idle CPU and the speed-up against DDPM-1000, FID ± its bootstrap
    spread, FID minus DDPM's ± the paired spread, KID x 1e3 ± its spread over reference subsets."""
    pre = premeasured_table() if pre is None else pre
    ddpm = next(r for r in pre["rows"] if r["sampler"] == "DDPM")
    own = {(r["sampler"], r["steps"], float(r["eta"])): r for r in rows}

    def this_run(r):
        return (f"{r['n']}, {r['seconds']:.1f} s, {r['fid']:.2f}, {1e3 * r['kid']:.0f} ± {1e3 * r['kid_std']:.0f}"
                if r is not None and "fid" in r else "-")

    header = ["sampler", "steps", "eta", "model calls", "calls vs DDPM", "s / 128 images (idle, one run)",
              f"FID (n = {pre['n']})", "FID − DDPM", "KID x1e3", "this run: n, s, FID, KID x1e3"]
    body = []
    for p in pre["rows"]:
        diff = "-" if p is ddpm else f"{p['fid_minus_ddpm']:+.2f} ± {p['fid_minus_ddpm_std']:.2f}"
        secs = _two_digits(p["seconds_128_idle"]) if p.get("seconds_128_idle") else "-"
        body.append([p["sampler"], p["steps"], f"{p['eta']:g}", p["model_calls"],
                     "-" if p is ddpm else f"{ddpm['model_calls'] / p['model_calls']:.0f}x fewer", secs,
                     f"{p['fid']:.2f} ± {p['fid_std']:.2f}", diff,
                     f"{1e3 * p['kid']:.0f} ± {1e3 * p['kid_std']:.0f}",
                     this_run(own.get((p["sampler"], p["steps"], float(p["eta"]))))])
    return markdown_table(header, body, align="lrrrrrrrrl")


def premeasured_reading(pre: dict, z: float = 2.0) -> str:
    r"""Read the pre-measured table: which rows differ from DDPM-1000. Every row starts from the same x_T, so a
    paired bootstrap (the same resampled images for every row) gives the spread of the difference of two
    rows' FIDs; a row differs from DDPM when |FID - FID_DDPM| > ``z`` times that paired spread (z = 2: about
    95 %). Returns Markdown: the rows worse than, indistinguishable from and better than DDPM, each with its
    speed-up, and FID's spread between independent draws of real images at the same n for scale."""
    check_number("z", z, lo=0.0, lo_open=True, what="how many paired spreads make a difference")
    ddpm = next(r for r in pre["rows"] if r["sampler"] == "DDPM")
    groups = {"worse than DDPM": [], "indistinguishable from DDPM": [], "better than DDPM": []}
    for r in pre["rows"]:
        if r is ddpm:
            continue
        d, sd = r["fid_minus_ddpm"], r["fid_minus_ddpm_std"]
        key = ("indistinguishable from DDPM" if abs(d) <= z * sd else "worse than DDPM" if d > 0
               else "better than DDPM")
        groups[key].append(f"DDIM {r['steps']}/η={r['eta']:g} ({_speed_up(r, ddpm)}, FID {d:+.2f} ± {sd:.2f})")
    floor = pre["floor"]
    typical = float(np.median([z * r["fid_minus_ddpm_std"] for r in pre["rows"] if r is not ddpm]))
    speed = (f", {ddpm['model_calls']} model calls, about {_two_digits(ddpm['seconds_128_idle'])} s for 128 images "
             f"on an idle CPU" if ddpm.get("seconds_128_idle") else f", {ddpm['model_calls']} model calls")
    lines = [f"At n = {pre['n']} a row's FID minus DDPM's carries the spread of a paired bootstrap (every row "
             f"starts from the same x_T; for scale, FID moves by ±{floor['fid_std']:.2f} between independent draws "
             f"of real images at this n, floor {floor['fid']:.2f}). Against DDPM-1000 (FID {ddpm['fid']:.2f} ± "
             f"{ddpm['fid_std']:.2f}{speed}), counting a difference when it exceeds {z:g} paired spreads "
             f"(at this n, a difference of about {typical:.1f} FID; the median row's):"]
    for key, items in groups.items():
        lines.append(f"- **{key}**: " + ("; ".join(items) if items else "none"))
    spread = _timing_spread(pre)
    if spread is not None:
        lines.append(f"\nThe cost is counted in model calls: the idle timings (one run per row) of rows with the same "
                     f"calls differ by up to {100 * spread[0]:.0f} % ({spread[1]} calls: {_two_digits(spread[2])} to "
                     f"{_two_digits(spread[3])} s for 128 images), so a speed-up from them is no more precise than "
                     f"that.")
    return "\n".join(lines)

"""Notebook 06's speed-quality table at a chosen n: DDPM 1000 steps and DDIM 10..250 steps at
eta in {0, 0.5, 1}, wall time and FID/KID (classifier features, test set), on the shipped U-Net.

Every row starts from the same x_T (``lessons.ddim.speed.speed_quality_table``); the real-against-real
floor at the same n (mean and spread over 5 draws) is printed beside it. Each row's FID carries a
bootstrap spread, and because the rows share x_T a paired bootstrap gives the spread of each row's
FID minus the first row's (DDPM 1000 when included): a difference over twice its spread tells the rows apart.

    python benchmarks/ddim_table.py --n 128                 # ~20 min of one CPU core
    python benchmarks/ddim_table.py --n 2048 --no-ddpm      # on a GPU, or without the DDPM row
    python benchmarks/ddim_table.py --ship --conditions "idle"  # the last run becomes notebook 06's table
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import RESULTS, environment, load_model, table, write_json
from ddpm_helpers import configure_threads, count_parameters, pick_device
from ddpm_helpers.core.metrics import (_reference_features, classifier_features, paired_fid_bootstrap,
                                       real_floor_spread)
from ddpm_helpers.lessons.ddim.speed import PREMEASURED_TABLE, speed_quality_table


def ship(src: dict, dest: Path, conditions: str) -> dict:
    """Notebook 06's pre-measured table (``dest``) from a run of this script (``src``, its JSON): the run's
    n, floor, FIDs with their spreads and paired differences to DDPM-1000, KIDs and wall seconds, with where,
    when and under which ``conditions`` it ran. The seconds for 128 images on an idle machine are kept from
    the table ``dest`` holds now when the architecture (parameter count) is the same: they measure the U-Net's
    speed, not its weights; otherwise they are dropped and the notebook falls back to model calls."""
    if src["rows"][0]["sampler"] != "DDPM":
        raise ValueError("--ship needs a run with the DDPM 1000-step row (run it without --no-ddpm)")
    old = json.loads(dest.read_text()) if dest.exists() else {}
    same_arch = old.get("parameters") in (None, src.get("parameters"))
    idle = {(r["sampler"], r["steps"], float(r["eta"])): r.get("seconds_128_idle") for r in old.get("rows", [])}
    env = src["env"]
    when = f"{src.get('started', '?')} to {env['date'].replace('T', ' ')[:16]} UTC"
    source = f"python benchmarks/ddim_table.py --n {src['n']}, {when}, commit {env['commit']}"
    rows = []
    for r in src["rows"]:
        row = {k: r[k] for k in ("sampler", "steps", "eta", "n", "model_calls", "fid", "fid_std")}
        row.update(fid_minus_ddpm=r["fid_minus_first"], fid_minus_ddpm_std=r["fid_minus_first_std"], kid=r["kid"],
                   kid_std=r["kid_std"], seconds=r["seconds"], source=source)
        if same_arch and idle.get((r["sampler"], r["steps"], float(r["eta"]))):
            row["seconds_128_idle"] = idle[(r["sampler"], r["steps"], float(r["eta"]))]
        rows.append(row)
    out = {"what": old.get("what", "Notebook 06's speed-quality table, pre-measured on a CPU"),
           "hardware": env["hardware"], "threads": env["torch_threads"], "date": when, "commit": env["commit"],
           "conditions": conditions, "speed": old.get("speed", "") if same_arch else "model calls only",
           "n": src["n"], "weights_steps": src["weights_steps"], "parameters": src.get("parameters"),
           "floor": src["floor"], "rows": rows}
    dest.write_text(json.dumps(out, indent=1) + "\n")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100, 250])
    p.add_argument("--etas", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    p.add_argument("--no-ddpm", action="store_true", help="leave out the DDPM 1000-step row")
    p.add_argument("--weights", default="fashion_unet", help="shipped weights' name or a checkpoint file")
    p.add_argument("--device", default=None)
    p.add_argument("--n-boot", type=int, default=200, help="paired bootstrap resamples for the FID spreads")
    p.add_argument("--ship", nargs="?", const=str(PREMEASURED_TABLE), default=None, metavar="PATH",
                   help="no sampling: turn the last run (results/ddim_table_<device>.json) into notebook 06's "
                        "pre-measured table (default: the shipped weights/fashion_unet.ddim_table.json)")
    p.add_argument("--conditions", default="not recorded",
                   help="with --ship: what else ran on the machine during the run (its seconds depend on it)")
    args = p.parse_args()
    configure_threads()
    device = pick_device(args.device)
    if args.ship:
        out = ship(json.loads((RESULTS / f"ddim_table_{device.type}.json").read_text()), Path(args.ship),
                   args.conditions)
        return print(f"wrote {args.ship}: n = {out['n']}, {len(out['rows'])} rows, weights of "
                     f"{out['weights_steps']} steps")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    model, sched, meta = load_model(args.weights, device)
    rows = speed_quality_table(model, sched, args.n, steps_list=args.steps, etas=args.etas,
                               include_ddpm=not args.no_ddpm, generator=0, return_samples=True)
    # 1. error bars: each row's bootstrap spread, and the paired spread of its difference to row 0
    f_rows = [classifier_features(r.pop("samples")) for r in rows]
    paired = paired_fid_bootstrap(f_rows, _reference_features("test", None), n_boot=args.n_boot)
    for i, r in enumerate(rows):
        r.update(fid_std=float(paired["fid_std"][i]), fid_minus_first=r["fid"] - rows[0]["fid"],
                 fid_minus_first_std=float(paired["diff_std"][i, 0]), n_boot=args.n_boot)
    floor = real_floor_spread(args.n)
    out = [{"sampler": f"{r['sampler']} {r['steps']}" + ("" if r["sampler"] == "DDPM" else f", eta {r['eta']:g}"),
            "seconds": f"{r['seconds']:.1f}", "images/s": f"{r['images_per_second']:.2f}",
            "FID": f"{r['fid']:.2f} ± {r['fid_std']:.2f}",
            "FID - row 1": f"{r['fid_minus_first']:+.2f} ± {r['fid_minus_first_std']:.2f}",
            "KID x1e3": f"{1e3 * r['kid']:.2f} ± {1e3 * r['kid_std']:.2f}"} for r in rows]
    print(f"n = {args.n} per row; weights: {meta.get('steps')} steps; floor FID {floor['fid']:.2f} ± "
          f"{floor['fid_std']:.2f} ({floor['seeds']} draws), KID x1e3 {1e3 * floor['kid']:.2f}")
    print(table(out, ["sampler", "seconds", "images/s", "FID", "FID - row 1", "KID x1e3"]))
    write_json(f"ddim_table_{device.type}", {"env": environment(device), "started": started, "n": args.n,
                                             "weights_steps": meta.get("steps"), "parameters": count_parameters(model),
                                             "floor": floor, "rows": rows})


if __name__ == "__main__":
    main()

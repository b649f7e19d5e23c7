"""Notebook 06's speed-quality table at a chosen n: DDPM 1000 steps and DDIM 10..250 steps at
eta in {0, 0.5, 1}, wall time and FID/KID (classifier features, test set), on the shipped U-Net.

Every row starts from the same x_T (``ddim_extras.speed_quality_table``); the real-against-real
floor at the same n is printed beside it.

    python benchmarks/ddim_table.py --n 128                 # ~20 min of one CPU core
    python benchmarks/ddim_table.py --n 2048 --no-ddpm      # on a GPU, or without the DDPM row
"""
from __future__ import annotations

import argparse

import torch

from _common import environment, load_model, table, write_json
from ddpm_helpers import configure_threads, pick_device
from ddpm_helpers.ddim_extras import speed_quality_table
from ddpm_helpers.metrics import real_floor


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100, 250])
    p.add_argument("--etas", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    p.add_argument("--no-ddpm", action="store_true", help="leave out the DDPM 1000-step row")
    p.add_argument("--weights", default="fashion_unet", help="shipped weights' name or a checkpoint file")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    configure_threads()
    device = pick_device(args.device)
    model, sched, meta = load_model(args.weights, device)
    rows = speed_quality_table(model, sched, args.n, steps_list=args.steps, etas=args.etas,
                               include_ddpm=not args.no_ddpm, generator=0)
    floor = real_floor(args.n)
    out = [{"sampler": f"{r['sampler']} {r['steps']}" + ("" if r["sampler"] == "DDPM" else f", eta {r['eta']:g}"),
            "seconds": f"{r['seconds']:.1f}", "images/s": f"{r['images_per_second']:.2f}",
            "FID": f"{r['fid']:.2f}", "KID x1e3": f"{1e3 * r['kid']:.2f}"} for r in rows]
    print(f"n = {args.n} per row; weights: {meta.get('steps')} steps; floor FID {floor['fid']:.2f}, "
          f"KID x1e3 {1e3 * floor['kid']:.2f}")
    print(table(out, ["sampler", "seconds", "images/s", "FID", "KID x1e3"]))
    write_json(f"ddim_table_{device.type}", {"env": environment(device), "n": args.n, "weights_steps": meta.get("steps"),
                                             "floor": floor, "rows": rows})


if __name__ == "__main__":
    main()

"""Sampling speed: DDPM with 1000 steps against DDIM with 10, 20, 50 and 100 steps, same model.

Uses the shipped FashionMNIST U-Net (``load_pretrained("fashion_unet")``). Every sampler draws
the same number of images in one batch; the samplers run round-robin so they share the machine's noise.

    python benchmarks/sampling.py                 # 32 images on CPU, 256 on a GPU
    python benchmarks/sampling.py --n 64 --rounds 3
"""
from __future__ import annotations

import argparse
import functools

import torch

from _common import environment, interleave, load_model, median, table, write_json
from ddpm_helpers import configure_threads, ddim_sample, ddpm_sample, pick_device, start_noise


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=None, help="images per sampler call (default 32 CPU, 256 GPU)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--weights", default="fashion_unet", help="shipped weights' name or a checkpoint file")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    configure_threads()  # DDPM_THREADS, else the CPUs this process may use (core/cpus.py)
    device = pick_device(args.device)
    n = args.n or (256 if device.type == "cuda" else 32)
    model, sched, _ = load_model(args.weights, device)
    gen = torch.Generator().manual_seed(0)
    x_T = start_noise(model, n, gen)
    fns = {"DDPM 1000": functools.partial(ddpm_sample, model, sched, x_T, generator=gen)}
    for k in (10, 20, 50, 100):
        fns[f"DDIM {k}"] = functools.partial(ddim_sample, model, sched, x_T, steps=k)
    fns["DDIM 10"]()  # warm-up
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = interleave(fns, args.rounds, sync)
    ddpm = median(times["DDPM 1000"])
    rows = [{"sampler": k, "model calls": 1000 if k.startswith("DDPM") else int(k.split()[1]),
             "seconds": f"{median(ts):.2f}", "images/s": f"{n / median(ts):.1f}",
             "speed-up vs DDPM": f"{ddpm / median(ts):.1f}x"} for k, ts in times.items()]
    print(f"{n} images per call on {device}")
    print(table(rows, ["sampler", "model calls", "seconds", "images/s", "speed-up vs DDPM"]))
    write_json(f"sampling_{device.type}", {"env": environment(device), "n": n, "rounds": args.rounds,
                                           "rows": rows, "seconds": times})


if __name__ == "__main__":
    main()

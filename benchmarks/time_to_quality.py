"""Time to quality: minutes of U-Net training until FID falls within 2x the real-against-real floor.

Trains a fresh FashionMNIST U-Net with ``ddpm_helpers.train`` (the shipped config) and, every
``--eval-every`` steps, samples ``--n`` images with DDIM (50 steps, eta 0) from the EMA weights and
measures FID against the test set with the project's classifier features. Evaluation time is not
counted as training time. Stops when FID <= ``--factor`` x floor (floor: ``real_floor(n)``) or after
``--minutes`` of training.

    python benchmarks/time_to_quality.py                      # GPU: n=2048, eval every 500 steps
    python benchmarks/time_to_quality.py --minutes 70 --eval-every 700 --device cpu  # the CPU run in README.md

Ctrl-C stops the training early; the evaluations so far are still printed and written. On one CPU thread
an evaluation (2048 images x 50 DDIM steps) takes 8-12 minutes, which is not counted as training time.
"""
from __future__ import annotations

import argparse

import torch

from _common import environment, table, write_json
from ddpm_helpers import (
    NoiseSchedule,
    TrainConfig,
    UNet,
    configure_threads,
    ddim_sample,
    load_fashion_mnist,
    pick_device,
    save_checkpoint,
    train,
)
from ddpm_helpers.core.metrics import image_quality, real_floor


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--factor", type=float, default=2.0)
    p.add_argument("--minutes", type=float, default=10.0, help="training-time budget")
    p.add_argument("--eval-every", type=int, default=500, help="steps between FID measurements")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--save", default=None, metavar="PATH", help="save the final EMA weights here "
                   "(a checkpoint that sampling.py and ddim_table.py take with --weights)")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    configure_threads()  # torch's default (one per core) unless DDPM_THREADS says otherwise
    device = pick_device(args.device)
    torch.manual_seed(0)
    x, _ = load_fashion_mnist("train", device=device)
    sched = NoiseSchedule.linear(1000)
    floor = real_floor(args.n)["fid"]
    rows, reached = [], []

    def evaluate(step, model, ema, seconds):
        s = ddim_sample(ema, sched, (args.n, 1, 28, 28), steps=50, generator=torch.Generator().manual_seed(0),
                        progress=False, clip_x0=True)
        q = image_quality(s.cpu())
        rows.append({"step": step, "train min": f"{seconds / 60:.2f}", "FID": f"{q['fid']:.2f}",
                     "x floor": f"{q['fid'] / floor:.2f}", "KID": f"{q['kid']:.4f}"})
        print(rows[-1], flush=True)
        if q["fid"] <= args.factor * floor:
            reached.append(seconds / 60)
            return True

    # steps: effectively unbounded, the time limit (checked at every evaluation) ends the run
    config = TrainConfig(steps=10**7, lr=args.lr, batch_size=args.batch_size, time_limit=args.minutes * 60,
                         log_every=args.eval_every, compile=args.compile, device=str(device), progress=False)
    result = train(UNet(), x, sched, config, callback=evaluate)
    if args.save:
        save_checkpoint(args.save, result.ema, sched, meta={"steps": result.steps_done, "seconds": result.seconds,
                                                            "lr": args.lr, "batch_size": args.batch_size})
        print(f"saved the EMA weights to {args.save}")
    print(table(rows, ["step", "train min", "FID", "x floor", "KID"]))
    trained = result.seconds / 60
    print(f"floor FID {floor:.2f} (n={args.n}); " + (
        f"within {args.factor}x after {reached[0]:.2f} min of training" if reached else
        f"not within {args.factor}x in {trained:.1f} min of training"
        + (" (interrupted)" if result.interrupted else f" (budget {args.minutes:g} min)")))
    write_json(f"time_to_quality_{device.type}", {
        "env": environment(device), "n": args.n, "floor_fid": floor, "factor": args.factor, "lr": args.lr,
        "batch_size": args.batch_size, "minutes_to_quality": reached[0] if reached else None,
        "minutes_trained": trained, "steps_trained": result.steps_done, "interrupted": result.interrupted,
        "rows": rows})


if __name__ == "__main__":
    main()

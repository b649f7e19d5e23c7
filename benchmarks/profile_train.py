"""Where a U-Net training step spends its time: torch.profiler over a few steps of ddpm_helpers.train.

    python benchmarks/profile_train.py             # CPU or the GPU that is there
    python benchmarks/profile_train.py --steps 20 --channels-last
"""
from __future__ import annotations

import argparse

from torch.profiler import ProfilerActivity, profile

from _common import environment, write_json
from ddpm_helpers import NoiseSchedule, UNet, configure_threads, load_fashion_mnist, pick_device, train


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rows", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    configure_threads()  # DDPM_THREADS, else the CPUs this process may use (core/cpus.py)
    device = pick_device(args.device)
    x, _ = load_fashion_mnist("train", device=device)
    sched = NoiseSchedule.linear(1000)
    model = UNet()
    train(model, x, sched, steps=3, batch_size=args.batch_size, progress=False, device=str(device))  # warm-up
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        train(model, x, sched, steps=args.steps, batch_size=args.batch_size, progress=False, device=str(device))
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    text = prof.key_averages().table(sort_by=key, row_limit=args.rows)
    print(text)
    write_json(f"profile_train_{device.type}", {"env": environment(device), "steps": args.steps,
                                                "batch_size": args.batch_size, "table": text})


if __name__ == "__main__":
    main()

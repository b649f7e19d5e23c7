"""CPU figures: the moons denoiser's time to its quality floor, and the quick-mode test suite's time.

1. Moons: train the TimeMLP in blocks of steps and, after each block, measure the Chamfer
   distance of 2000 DDPM samples to fresh moons data against the real-against-real floor.
   Reports the training seconds until the distance is within ``--factor`` of the floor.
2. Suite: runs the README's test command's pytest (``DDPM_QUICK=1 python -m pytest``, two xdist
   workers from pyproject's addopts) with ``--junitxml`` and reports the wall time and each part's
   share of the summed test time.

    python benchmarks/cpu_suite.py              # both
    python benchmarks/cpu_suite.py --skip-suite # moons only
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

from _common import environment, table, write_json
from ddpm_helpers import NoiseSchedule, TimeMLP, configure_threads, ddpm_sample, make_moons_data, start_noise, train
from ddpm_helpers.core.metrics import chamfer_distance, moons_floor

ROOT = Path(__file__).resolve().parent.parent


def moons_time_to_floor(factor: float, block: int, max_blocks: int) -> dict:
    torch.manual_seed(0)
    x = make_moons_data(20000)
    sched = NoiseSchedule.linear(1000)
    floor = moons_floor()["chamfer"]
    ref = make_moons_data(2000, seed=77)
    rows, reached = [], []

    def measure(step, model, ema, seconds):
        g = torch.Generator().manual_seed(1)  # draws x_T, then every step's noise
        s = ddpm_sample(ema, sched, start_noise(ema, 2000, g), generator=g).x0
        c = chamfer_distance(s, ref)
        rows.append({"steps": step, "train s": f"{seconds:.1f}", "chamfer": f"{c:.4f}", "x floor": f"{c / floor:.2f}"})
        if c <= factor * floor:
            reached.append(seconds)
            return True

    train(TimeMLP(), x, sched, steps=block * max_blocks, batch_size=256, lr=2e-3, progress=False,
          log_every=block, callback=measure)
    reached = reached[0] if reached else None
    trained_s = float(rows[-1]["train s"])
    print(table(rows, ["steps", "train s", "chamfer", "x floor"]))
    print(f"floor {floor:.4f}; within {factor}x of it after {reached:.1f} s of training" if reached
          else f"not within {factor}x of the floor after {trained_s:.0f} s")
    return {"floor": floor, "factor": factor, "seconds_to_floor": reached, "rows": rows}


def suite_time() -> dict:
    junit = Path(tempfile.mkdtemp()) / "junit.xml"
    env = {**os.environ, "DDPM_QUICK": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}"], cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    shares: dict[str, float] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("classname", "") + " " + case.get("file", "")
        nb = next((w for w in name.replace("/", ".").split(" ") if "ipynb" in w), None)
        key = nb.rsplit(".ipynb", 1)[0].split(".")[-1] + ".ipynb" if nb else "unit tests (tests/)"
        shares[key] = shares.get(key, 0.0) + float(case.get("time", 0))
    # with pytest-xdist the parts run on two workers at once: shares are of the summed test time
    total = sum(shares.values())
    rows = [{"part": k, "seconds": f"{v:.1f}", "share": f"{100 * v / total:.0f}%"}
            for k, v in sorted(shares.items(), key=lambda kv: -kv[1])]
    print(table(rows, ["part", "seconds", "share"]))
    print(f"whole suite: {wall:.1f} s wall ({total:.1f} s of test time summed over the workers), "
          f"exit code {proc.returncode}")
    return {"wall_seconds": wall, "test_seconds": total, "exit_code": proc.returncode, "rows": rows}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--factor", type=float, default=1.2, help="'at the floor' means within this factor of it")
    p.add_argument("--block", type=int, default=250, help="training steps between measurements")
    p.add_argument("--max-blocks", type=int, default=40)
    p.add_argument("--skip-suite", action="store_true")
    args = p.parse_args()
    configure_threads()  # DDPM_THREADS, else the CPUs this process may use (core/cpus.py)
    out = {"env": environment(torch.device("cpu")),
           "moons": moons_time_to_floor(args.factor, args.block, args.max_blocks)}
    if not args.skip_suite:
        out["suite"] = suite_time()
    write_json("cpu_suite", out)


if __name__ == "__main__":
    main()

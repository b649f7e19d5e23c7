"""Threads x CPU quota, side by side: time per step of the moons MLP and the U-Net, as ratios.

Each configuration (torch threads N x cgroup CPU quota Q) is one worker process, started once and placed
in a cgroup with that quota before it imports torch; the workers then take turns, round-robin, each
timing one block of steps while the others wait, so a noisy machine hits every configuration alike.
Workloads (the package's own code): the moons TimeMLP's training step (``train``, batch 256, as notebook
03) and sampling step (``ddpm_sample`` on 2000 points, the Linear schedule shortened to ``--sample-T``
steps: each step costs the same), the U-Net's training step (the recipe's settings at ``--unet-batch``
images of noise: the time does not depend on what the images show). Each worker also reports what
``cpu_budget()`` sees from inside its cgroup: the thread count ``setup_notebook()`` would choose there.
Rows: each thread count (``DDPM_THREADS``), with each OpenMP wait policy asked for (``--wait-policies``:
torch's OpenMP threads spin while they wait for each other unless ``OMP_WAIT_POLICY=PASSIVE``), and
what ``setup_notebook()`` chooses (no ``DDPM_THREADS``: the CPU budget, one thread for the MLP).

Quota rows need a writable cgroup (root, and a cgroup v1 ``cpu`` hierarchy or a v2 one with the ``cpu``
controller); without one they are skipped and the script says why.

    python benchmarks/threads.py                                   # threads 1 2 4 8 x quota none, 1.5, 1
    python benchmarks/threads.py --threads 1 2 --wait-policies default PASSIVE  # spinning against sleeping
    python benchmarks/threads.py --threads 1 2 --quotas none 1 --rounds 3 --workloads mlp_train
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKLOADS = ("mlp_train", "mlp_sample", "unet_train")
POLICY = 0  # the configuration without DDPM_THREADS: configure_threads() and small_model_threads() choose
UNITS = {"mlp_train": "ms", "mlp_sample": "ms", "unet_train": "s"}


# ----------------------------------------------------------------------------- cgroups with a CPU quota
def _quota_text(cpus: float) -> str:
    return "none" if cpus is None else f"{cpus:g} CPU"


def make_quota_cgroup(cpus: float, name: str, period_us: int = 100_000) -> tuple[Path, str]:
    """Create a cgroup that may use ``cpus`` CPUs (CFS bandwidth control); returns (its directory, the file
    holding the quota). Raises OSError with the reason when no cgroup can be created here."""
    quota_us = int(round(cpus * period_us))
    v1 = Path("/sys/fs/cgroup/cpu")
    if (v1 / "cpu.cfs_quota_us").is_file():
        d = v1 / name
        d.mkdir()
        try:
            (d / "cpu.cfs_period_us").write_text(str(period_us))
            (d / "cpu.cfs_quota_us").write_text(str(quota_us))
        except OSError:
            d.rmdir()
            raise
        return d, "cpu.cfs_quota_us"
    v2 = Path("/sys/fs/cgroup")
    controllers = v2 / "cgroup.controllers"
    if controllers.is_file() and "cpu" in controllers.read_text().split():
        if "cpu" not in (v2 / "cgroup.subtree_control").read_text().split():  # left as the system has it
            raise OSError(f"the cpu controller is not enabled for {v2}'s children "
                          f"(as root: echo +cpu > {v2 / 'cgroup.subtree_control'})")
        d = v2 / name
        d.mkdir()
        try:
            (d / "cpu.max").write_text(f"{quota_us} {period_us}")
        except OSError:
            d.rmdir()
            raise
        return d, "cpu.max"
    raise OSError("no cgroup hierarchy with the cpu controller at /sys/fs/cgroup/cpu (v1) or /sys/fs/cgroup (v2)")


def remove_cgroup(d: Path) -> None:
    """Remove a cgroup made by :func:`make_quota_cgroup` once its processes have exited."""
    for _ in range(50):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY while an exiting process is still listed
            time.sleep(0.1)
    print(f"could not remove {d}; remove it with: rmdir {d}", file=sys.stderr)


def join_cgroup(d: str | None) -> None:
    if d:
        Path(d, "cgroup.procs").write_text(str(os.getpid()))


# ----------------------------------------------------------------------------- worker (one configuration)
def worker(cgroup: str | None, unet_batch: int, sample_T: int) -> None:
    join_cgroup(cgroup)  # before torch starts any thread
    import torch

    from ddpm_helpers import (NoiseSchedule, TimeMLP, UNet, configure_threads, ddpm_sample, make_moons_data,
                              start_noise, train)
    from ddpm_helpers.core.cpus import cpu_budget
    from ddpm_helpers.core.training import UNET_RECIPE

    budget = cpu_budget()
    configure_threads()  # $DDPM_THREADS: exactly that many, for the small MLP too (runtime.small_model_threads)
    torch.manual_seed(0)
    sched, short = NoiseSchedule.linear(1000), NoiseSchedule.linear(sample_T)
    moons, images = make_moons_data(10000, seed=0), torch.randn(512, 1, 28, 28)
    mlp, unet = TimeMLP(), UNet()
    recipe = {**UNET_RECIPE, "batch_size": unet_batch}

    def run(name: str, steps: int) -> float:
        """Seconds per step over one block of ``steps``."""
        if name == "mlp_train":
            r = train(mlp, moons, sched, steps=steps, batch_size=256, lr=2e-3, progress=False, log_every=steps)
            return r.seconds / r.steps_done
        if name == "unet_train":
            r = train(unet, images, sched, steps=steps, progress=False, log_every=steps, **recipe)
            return r.seconds / r.steps_done
        if name == "mlp_sample":
            t0 = time.perf_counter()
            for _ in range(max(1, steps // sample_T)):
                g = torch.Generator().manual_seed(0)
                ddpm_sample(mlp, short, start_noise(mlp, 2000, g), generator=g)
            return (time.perf_counter() - t0) / (max(1, steps // sample_T) * sample_T)
        raise ValueError(f"unknown workload {name!r}")

    print(json.dumps({"ready": True, "torch_threads": torch.get_num_threads(), "budget_cpus": budget.cpus,
                      "budget_reason": budget.reason}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("quit"):
            break
        print(json.dumps({"seconds": run(cmd["workload"], cmd["steps"])}), flush=True)


# ----------------------------------------------------------------------------- parent
def lscpu() -> dict:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return {"model": fields.get("Model name", "?"), "cpus": fields.get("CPU(s)", "?"),
            "threads_per_core": fields.get("Thread(s) per core", "?"),
            "amx": "amx_tile" in fields.get("Flags", ""), "avx512_bf16": "avx512_bf16" in fields.get("Flags", "")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8], help="torch thread counts")
    p.add_argument("--quotas", nargs="+", default=["none", "1.5", "1"],
                   help="CPU quotas in CPUs ('none': the machine as it is)")
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument("--rounds", type=int, default=3, help="blocks per configuration and workload (round-robin)")
    p.add_argument("--mlp-steps", type=int, default=30, help="MLP training steps per block")
    p.add_argument("--sample-T", type=int, default=50, help="sampling steps per block (schedule length)")
    p.add_argument("--unet-steps", type=int, default=2, help="U-Net training steps per block")
    p.add_argument("--unet-batch", type=int, default=16, help="U-Net batch size")
    p.add_argument("--wait-policies", nargs="+", default=["default"], choices=["default", "PASSIVE", "ACTIVE"],
                   help="OMP_WAIT_POLICY of the workers (default: unset, OpenMP's own); each adds its rows")
    p.add_argument("--no-policy", action="store_true",
                   help="leave out the row of what setup_notebook() chooses (no DDPM_THREADS; one thread for the MLP)")
    p.add_argument("--tag", default="", help="suffix of the JSON's name")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cgroup", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.cgroup, args.unet_batch, args.sample_T)

    from _common import environment, write_json  # the parent only: a worker joins its cgroup first
    import torch

    cpu, load_before = lscpu(), os.getloadavg()
    print(f"CPU: {cpu.get('model')}, {cpu.get('cpus')} CPUs ({cpu.get('threads_per_core')} threads per core); "
          f"load average before: {load_before[0]:.2f}")
    quotas = [None if q == "none" else float(q) for q in args.quotas]
    cgroups, skipped = {}, {}
    for q in quotas:
        if q is not None:
            try:
                cgroups[q] = make_quota_cgroup(q, f"ddpm-threads-{os.getpid()}-{int(q * 1000)}")
            except OSError as e:
                skipped[q] = f"cannot create a cgroup with a {q:g}-CPU quota: {e}"
                print(f"SKIPPED quota {q:g} CPU: {skipped[q]}")
    quotas = [q for q in quotas if q is None or q in cgroups]
    rows = [(n, wait) for wait in args.wait_policies for n in args.threads]  # (threads, OMP_WAIT_POLICY)
    rows += [] if args.no_policy else [(POLICY, "default")]
    base = rows[0]  # ratios are against this row, under the same quota
    configs = [(row, q) for q in quotas for row in rows]
    steps = {"mlp_train": args.mlp_steps, "mlp_sample": args.sample_T, "unet_train": args.unet_steps}
    procs, info = {}, {}
    try:
        for (n, wait), q in configs:
            cmd = [sys.executable, __file__, "--worker", "--unet-batch", str(args.unet_batch),
                   "--sample-T", str(args.sample_T)]
            if q is not None:
                cmd += ["--cgroup", str(cgroups[q][0])]
            # POLICY: no DDPM_THREADS, as a student runs; OMP_WAIT_POLICY only where a row asks for it
            env = {k: v for k, v in os.environ.items() if k not in ("DDPM_THREADS", "OMP_WAIT_POLICY")}
            if n != POLICY:
                env["DDPM_THREADS"] = str(n)
            if wait != "default":
                env["OMP_WAIT_POLICY"] = wait
            procs[(n, wait), q] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                           cwd=Path(__file__).parent, env=env)

        def ask(key, msg):
            proc = procs[key]
            proc.stdin.write(json.dumps(msg) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker {key} ended early (exit code {proc.wait()})")
            return json.loads(line)

        for ((n, wait), q), proc in procs.items():
            info[(n, wait), q] = got = json.loads(proc.stdout.readline())
            expected = got["budget_cpus"] if n == POLICY else n
            if got["torch_threads"] != expected:
                raise RuntimeError(f"worker ({n}, {wait}, {q}) runs {got['torch_threads']} threads, not {expected}")
        for w in args.workloads:  # one warm-up block each, not counted
            for key in configs:
                ask(key, {"workload": w, "steps": steps[w]})
        times = {(w, row, q): [] for w in args.workloads for row, q in configs}
        t_start = time.perf_counter()
        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds} ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
            for w in args.workloads:
                for row, q in configs:
                    times[w, row, q].append(ask((row, q), {"workload": w, "steps": steps[w]})["seconds"])
                    time.sleep(0.05)  # let the last worker's OpenMP threads stop spinning
        for key in configs:
            procs[key].stdin.write(json.dumps({"quit": True}) + "\n")
            procs[key].stdin.flush()
    finally:
        for proc in procs.values():
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for d, _ in cgroups.values():
            remove_cgroup(d)
    load_after = os.getloadavg()

    results, lines = [], []
    for w in args.workloads:
        unit = UNITS[w]
        scale, digits = (1000, 1) if unit == "ms" else (1, 2)
        lines += [f"\n{w}: median {unit} per step (x the time of row '{_label(base, w)}' under the same quota; "
                  "min..max)", "| threads | " + " | ".join(f"quota {_quota_text(q)}" for q in quotas) + " |",
                  "|---" * (len(quotas) + 1) + "|"]
        for row in rows:
            cells = []
            for q in quotas:
                t = times[w, row, q]
                med, ref = statistics.median(t), statistics.median(times[w, base, q])
                cells.append(f"{med * scale:.{digits}f} ({med / ref:.2f}x; "
                             f"{min(t) * scale:.{digits}f}..{max(t) * scale:.{digits}f})")
                results.append({"workload": w, "threads": row[0] if row[0] != POLICY else "policy",
                                "omp_wait_policy": row[1], "quota_cpus": q, "seconds": t, "median": med,
                                "vs_base": med / ref})
            lines.append(f"| {_label(row, w)} | " + " | ".join(cells) + " |")
    budgets = {q: info[rows[0], q] for q in quotas}
    lines.append("\nsetup_notebook()'s choice: no DDPM_THREADS, so configure_threads() sets cpu_budget()'s count and "
                 "small_model_threads() one thread for the MLP. cpu_budget() inside each worker: "
                 + "; ".join(f"quota {_quota_text(q)}: {b['budget_cpus']} ({b['budget_reason']})"
                             for q, b in budgets.items()))
    lines.append(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print("\n".join(lines))
    write_json("threads" + (f"_{args.tag}" if args.tag else ""), {
        "env": environment(torch.device("cpu")), "lscpu": cpu, "load_before": load_before, "load_after": load_after,
        "args": {k: v for k, v in vars(args).items() if k not in ("worker", "cgroup")}, "skipped": skipped,
        "budget": {_quota_text(q): {k: b[k] for k in ("budget_cpus", "budget_reason")} for q, b in budgets.items()},
        "quota_files": {_quota_text(q): cgroups[q][1] for q in cgroups}, "rows": results, "table": "\n".join(lines)})


def _label(row: tuple, workload: str) -> str:
    n, wait = row
    text = str(n) if n != POLICY else "setup_notebook()'s choice" + " (1 for the MLP)" * workload.startswith("mlp")
    return text + (f", OMP_WAIT_POLICY={wait}" if wait != "default" else "")


if __name__ == "__main__":
    main()

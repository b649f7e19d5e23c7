"""CPU threads by what the process may use (core/cpus.py, runtime.configure_threads/small_model_threads).

* cgroup quotas read from fake /proc and /sys trees: v1 and v2, the smallest of nested quotas, "max",
  files that cannot be read or parsed, container layouts (cgroup namespace, a container's own mount);
* the budget: the affinity mask, rounding a fractional quota down, macOS/Windows without cgroups;
* the choice: the argument, then DDPM_THREADS (a bad value names it), then the budget; what
  setup_notebook prints; one thread for small models in train() and the samplers, restored afterwards;
* end to end: a process in a real 1-CPU-quota cgroup runs setup_notebook() and prints 1 thread
  (skipped, with the reason, where no cgroup can be created: not root, a read-only /sys);
* benchmarks/threads.py at a toy size, with its quota rows skipped when no cgroup can be made.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddpm_helpers import NoiseSchedule, TimeMLP, UNet, ddpm_sample, make_moons_data, train
from ddpm_helpers.core import cpus
from ddpm_helpers.core.cpus import CpuBudget, Quota, affinity_cpus, cgroup_quota, cpu_budget, thread_choice
from ddpm_helpers.core.runtime import SMALL_MODEL_PARAMETERS, configure_threads, setup_notebook, small_model_threads

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

V2_MOUNT = "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate"
V1_MOUNT = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct"
OTHER_MOUNTS = ("35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
                "22 1 8:1 / / rw,relatime - ext4 /dev/root rw")


def fake_tree(tmp_path: Path, mountinfo: str | None, cgroup: str | None, files: dict[str, str]) -> Path:
    """A fake root with proc/self/{mountinfo,cgroup} and the given files (paths relative to the root)."""
    root = tmp_path / "root"
    (root / "proc/self").mkdir(parents=True)
    if mountinfo is not None:
        (root / "proc/self/mountinfo").write_text(mountinfo + "\n")
    if cgroup is not None:
        (root / "proc/self/cgroup").write_text(cgroup + "\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


# ----------------------------------------------------------------------------- cgroup quotas, fake trees
def test_v2_quota_is_quota_over_period(tmp_path):
    root = fake_tree(tmp_path, f"{OTHER_MOUNTS}\n{V2_MOUNT}", "0::/user.slice/jupyter",
                     {"sys/fs/cgroup/user.slice/jupyter/cpu.max": "150000 100000\n"})
    q = cgroup_quota(root)
    assert q == Quota(1.5, "cpu.max", str(root / "sys/fs/cgroup/user.slice/jupyter"))


def test_v2_max_means_no_quota(tmp_path):
    root = fake_tree(tmp_path, V2_MOUNT, "0::/user.slice/jupyter",
                     {"sys/fs/cgroup/user.slice/jupyter/cpu.max": "max 100000\n",
                      "sys/fs/cgroup/user.slice/cpu.max": "max 100000\n"})
    assert cgroup_quota(root) is None


def test_v1_quota_and_minus_one(tmp_path):
    cg = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/"
    files = {"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000\n",
             "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"}
    root = fake_tree(tmp_path, f"{OTHER_MOUNTS}\n{V1_MOUNT}", cg, files)
    assert cgroup_quota(root) == Quota(0.5, "cpu.cfs_quota_us", str(root / "sys/fs/cgroup/cpu,cpuacct/docker/abc"))
    (root / "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota(root) is None


@pytest.mark.parametrize("parent, child, expect", [("100000 100000", "300000 100000", "parent"),
                                                   ("300000 100000", "200000 100000", "child"),
                                                   ("max 100000", "250000 100000", "child")])
def test_nested_cgroups_smallest_quota_wins(tmp_path, parent, child, expect):
    root = fake_tree(tmp_path, V2_MOUNT, "0::/hub/alice",
                     {"sys/fs/cgroup/hub/cpu.max": parent, "sys/fs/cgroup/hub/alice/cpu.max": child,
                      "sys/fs/cgroup/cpu.max.unrelated": "x"})
    q = cgroup_quota(root)
    assert q.path == str(root / "sys/fs/cgroup/hub" / ("alice" if expect == "child" else ""))
    assert q.cpus == {"parent": 1.0, "child": float(child.split()[0]) / 1e5}[expect]


def test_v1_and_v2_together_the_smaller_wins(tmp_path):
    """A hybrid host (v1 cpu controller, v2 mounted beside it): both are read."""
    mounts = f"{V1_MOUNT}\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw"
    files = {"sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us": "200000",
             "sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us": "100000",
             "sys/fs/cgroup/unified/job/cpu.max": "120000 100000"}
    root = fake_tree(tmp_path, mounts, "4:cpu,cpuacct:/job\n0::/job", files)
    assert cgroup_quota(root).cpus == pytest.approx(1.2) and cgroup_quota(root).file == "cpu.max"


def test_container_with_a_cgroup_namespace_reads_the_mount_root(tmp_path):
    """Inside docker with a cgroup namespace the path is "/" and the container's quota sits at the mount point."""
    root = fake_tree(tmp_path, V2_MOUNT, "0::/", {"sys/fs/cgroup/cpu.max": "100000 100000"})
    assert cgroup_quota(root) == Quota(1.0, "cpu.max", str(root / "sys/fs/cgroup"))


def test_container_own_mount_root_is_its_cgroup(tmp_path):
    """docker on cgroup v1 without a namespace: /proc/self/cgroup says /docker/abc, and the mount's root is
    /docker/abc, so the files are at the mount point; a path outside the mount's root also reads it."""
    mount = "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu"
    files = {"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "100000", "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000"}
    root = fake_tree(tmp_path, mount, "3:cpu:/docker/abc", files)
    assert cgroup_quota(root).cpus == 1.0
    (root / "proc/self/cgroup").write_text("3:cpu:/somewhere/else\n")
    assert cgroup_quota(root).cpus == 1.0
    # a cgroup below the container's: /docker/abc/job is the mount point's job/, not docker/abc/job/
    (root / "proc/self/cgroup").write_text("3:cpu:/docker/abc/job\n")
    (root / "sys/fs/cgroup/cpu/job").mkdir()
    (root / "sys/fs/cgroup/cpu/job/cpu.cfs_quota_us").write_text("50000")
    (root / "sys/fs/cgroup/cpu/job/cpu.cfs_period_us").write_text("100000")
    assert cgroup_quota(root) == Quota(0.5, "cpu.cfs_quota_us", str(root / "sys/fs/cgroup/cpu/job"))


def test_mount_point_with_a_space(tmp_path):
    mount = r"32 31 0:29 / /sys/fs/my\040cgroup rw - cgroup2 cgroup2 rw"
    root = fake_tree(tmp_path, mount, "0::/a", {"sys/fs/my cgroup/a/cpu.max": "200000 100000"})
    assert cgroup_quota(root).cpus == 2.0


def test_unreadable_or_malformed_files_are_skipped(tmp_path):
    root = fake_tree(tmp_path, V2_MOUNT, "0::/a/b", {"sys/fs/cgroup/a/cpu.max": "300000 100000",
                                                    "sys/fs/cgroup/a/b/cpu.max": "lots 100000"})
    assert cgroup_quota(root).cpus == 3.0  # the child's file cannot be parsed: the parent's quota binds
    (root / "sys/fs/cgroup/a/b/cpu.max").unlink()
    (root / "sys/fs/cgroup/a/b/cpu.max").mkdir()  # reading a directory raises, as an unreadable file does
    assert cgroup_quota(root).cpus == 3.0
    (root / "sys/fs/cgroup/a/cpu.max").write_text("0 100000")  # a zero quota is not a limit we can use
    assert cgroup_quota(root) is None


def test_missing_proc_files(tmp_path):
    # no /proc/self/cgroup: no cgroup to look in
    root = fake_tree(tmp_path, V2_MOUNT, None, {"sys/fs/cgroup/cpu.max": "100000 100000"})
    assert cgroup_quota(root) is None
    # no mountinfo: the conventional mount points
    root = fake_tree(tmp_path / "b", None, "0::/", {"sys/fs/cgroup/cpu.max": "100000 100000"})
    assert cgroup_quota(root).cpus == 1.0


# ----------------------------------------------------------------------------- the budget and its reason
@pytest.fixture
def four_cpus(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)


@pytest.mark.parametrize("cpu_max, cpus, reason", [
    (None, 4, "4 CPUs in the affinity mask, no quota"),
    ("100000 100000", 1, "cgroup cpu.max quota 1.0 CPU of 4 CPUs"),
    ("150000 100000", 1, "cgroup cpu.max quota 1.5 CPUs of 4 CPUs, rounded down"),
    ("250000 100000", 2, "cgroup cpu.max quota 2.5 CPUs of 4 CPUs, rounded down"),
    ("25000 100000", 1, "cgroup cpu.max quota 0.25 CPUs of 4 CPUs, at least 1"),
    ("800000 100000", 4, "4 CPUs in the affinity mask; cgroup cpu.max quota 8.0 CPUs"),
])
def test_budget_is_the_smaller_of_affinity_and_floored_quota(tmp_path, four_cpus, cpu_max, cpus, reason):
    files = {"sys/fs/cgroup/cpu.max": cpu_max} if cpu_max else {}
    budget = cpu_budget(fake_tree(tmp_path, V2_MOUNT, "0::/", files), platform="linux")
    assert (budget.cpus, budget.affinity, budget.reason) == (cpus, 4, reason)


def test_budget_ignores_cgroups_off_linux(tmp_path, four_cpus):
    root = fake_tree(tmp_path, V2_MOUNT, "0::/", {"sys/fs/cgroup/cpu.max": "100000 100000"})
    assert cpu_budget(root, platform="darwin").cpus == 4 and cpu_budget(root, platform="darwin").quota is None


def test_affinity_mask_then_process_cpu_count_then_cpu_count(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert affinity_cpus() == (1, "affinity mask")
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "process_cpu_count", lambda: 6, raising=False)
    assert affinity_cpus() == (6, "os.process_cpu_count()")
    monkeypatch.delattr(os, "process_cpu_count")
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert affinity_cpus() == (1, "os.cpu_count()")
    budget = CpuBudget(1, 1, "os.cpu_count()", None)
    assert budget.reason == "1 CPU (os.cpu_count()), no quota"


def test_this_machine_budget_is_within_the_affinity_mask():
    budget = cpu_budget()
    assert 1 <= budget.cpus <= budget.affinity <= (os.cpu_count() or 1)


# ----------------------------------------------------------------------------- the choice
@pytest.fixture
def one_cpu_quota(monkeypatch):
    """No DDPM_THREADS, and a budget of 1 CPU under a 1-CPU quota on 2 CPUs; torch's count restored after."""
    monkeypatch.delenv("DDPM_THREADS", raising=False)
    monkeypatch.setattr(cpus, "cpu_budget",
                        lambda root="/": CpuBudget(1, 2, "affinity mask", Quota(1.0, "cpu.max", "/sys/fs/cgroup")))
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_argument_then_ddpm_threads_then_budget(one_cpu_quota, monkeypatch):
    assert thread_choice() == cpus.ThreadChoice(1, "cgroup cpu.max quota 1.0 CPU of 2 CPUs")
    monkeypatch.setenv("DDPM_THREADS", " 3 ")
    assert thread_choice() == cpus.ThreadChoice(3, "DDPM_THREADS")
    assert thread_choice(2) == cpus.ThreadChoice(2, "argument")


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_bad_ddpm_threads_is_named(one_cpu_quota, monkeypatch, value):
    monkeypatch.setenv("DDPM_THREADS", value)
    with pytest.raises(ValueError, match=f"DDPM_THREADS must be a positive integer .*got '{value}'"):
        configure_threads()


@pytest.mark.parametrize("value", [0, -2, True, 1.5, "2"])
def test_bad_threads_argument_is_named(one_cpu_quota, value):
    with pytest.raises(ValueError, match=f"threads must be None or an integer >= 1, got {value!r}"):
        configure_threads(value)


def test_configure_threads_sets_the_budget_not_the_host_count(one_cpu_quota):
    torch.set_num_threads(2)  # what torch starts with on a 2-core host
    assert configure_threads() == 1 and torch.get_num_threads() == 1
    assert configure_threads(2) == 2 and torch.get_num_threads() == 2


def test_setup_notebook_says_what_it_chose_and_why(one_cpu_quota, monkeypatch, capsys):
    setup_notebook(3)
    out = capsys.readouterr().out
    assert "CPU threads: 1 (cgroup cpu.max quota 1.0 CPU of 2 CPUs); " in out
    assert out.startswith("device: ") and "precision: " in out and "quick mode: " in out
    assert out.strip().endswith("seed 3")
    monkeypatch.setenv("DDPM_THREADS", "2")
    setup_notebook()
    assert "CPU threads: 2 (DDPM_THREADS); " in capsys.readouterr().out and torch.get_num_threads() == 2
    monkeypatch.delenv("DDPM_THREADS")
    setup_notebook(threads=2)
    out = capsys.readouterr().out
    assert f"CPU threads: 2 (argument; small models: 1 (below {SMALL_MODEL_PARAMETERS:,} parameters)); " in out


# ----------------------------------------------------------------------------- one thread for small models
class ThreadSpy(torch.nn.Module):
    """Wraps a model and records torch's thread count at every forward call."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []

    def forward(self, x, t):
        self.seen.append(torch.get_num_threads())
        return self.model(x, t)


def test_small_models_train_and_sample_on_one_thread(one_cpu_quota):
    torch.set_num_threads(2)
    spy = ThreadSpy(TimeMLP(hidden=16, blocks=1))
    train(spy, make_moons_data(64), NoiseSchedule.linear(20), steps=3, batch_size=8, progress=False)
    ddpm_sample(spy, NoiseSchedule.linear(5), torch.randn((4, 2)), generator=torch.Generator().manual_seed(0))
    assert spy.seen == [1] * 8 and torch.get_num_threads() == 2  # 3 training + 5 sampling calls, then restored


def test_large_models_and_ddpm_threads_keep_the_count(one_cpu_quota, monkeypatch):
    torch.set_num_threads(2)
    unet = UNet()
    assert sum(p.numel() for p in unet.parameters()) >= SMALL_MODEL_PARAMETERS
    with small_model_threads(unet) as n:
        assert n == 2 and torch.get_num_threads() == 2
    monkeypatch.setenv("DDPM_THREADS", "2")  # asked for: the MLP gets it too
    with small_model_threads(TimeMLP()) as n:
        assert n == 2 and torch.get_num_threads() == 2
    monkeypatch.delenv("DDPM_THREADS")
    with small_model_threads(TimeMLP(), device="meta") as n:  # not on the CPU: nothing to decide here
        assert n == 2


def test_small_model_threads_restores_after_an_error(one_cpu_quota):
    torch.set_num_threads(2)
    with pytest.raises(KeyboardInterrupt), small_model_threads(TimeMLP()) as n:
        assert n == 1 and torch.get_num_threads() == 1
        raise KeyboardInterrupt
    assert torch.get_num_threads() == 2


# ----------------------------------------------------------------------------- a real cgroup, end to end
@pytest.fixture
def threads_bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import threads

    return threads


@pytest.mark.parametrize("quota, expect", [(1.0, "CPU threads: 1 (cgroup cpu.cfs_quota_us quota 1.0 CPU of "),
                                           (1.5, "CPU threads: 1 (cgroup cpu.cfs_quota_us quota 1.5 CPUs of ")])
def test_setup_notebook_in_a_quota_cgroup_chooses_one_thread(threads_bench, quota, expect):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: a 1-CPU quota changes nothing to see")
    try:
        group, file = threads_bench.make_quota_cgroup(quota, f"ddpm-test-{os.getpid()}-{int(quota * 10)}")
    except OSError as e:
        pytest.skip(f"cannot create a cgroup with a CPU quota here ({e}); the fake-tree tests cover the parsing")
    expect = expect.replace("cpu.cfs_quota_us", file)
    env = {k: v for k, v in os.environ.items() if k != "DDPM_THREADS"}
    try:
        proc = subprocess.run([sys.executable, "-c", "from ddpm_helpers import setup_notebook; setup_notebook()"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
                              preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())))
    finally:
        threads_bench.remove_cgroup(group)
    assert proc.returncode == 0, proc.stderr
    assert expect in proc.stdout, proc.stdout


def test_threads_benchmark_runs_and_skips_quota_rows_without_a_cgroup(threads_bench, monkeypatch, tmp_path, capsys):
    import _common

    def no_cgroup(cpus, name, period_us=100_000):
        raise OSError("read-only file system")

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    monkeypatch.setattr(threads_bench, "make_quota_cgroup", no_cgroup)
    monkeypatch.setattr(sys, "argv", ["threads.py", "--threads", "1", "--quotas", "none", "1", "--rounds", "1",
                                      "--workloads", "mlp_train", "--mlp-steps", "2", "--no-policy"])
    threads_bench.main()
    out = capsys.readouterr().out
    assert "SKIPPED quota 1 CPU: cannot create a cgroup with a 1-CPU quota: read-only file system" in out
    assert "| threads | quota none |" in out and "CPU: " in out
    r = json.loads((tmp_path / "threads.json").read_text())
    assert [(row["threads"], row["quota_cpus"]) for row in r["rows"]] == [(1, None)]
    assert r["rows"][0]["vs_base"] == 1.0 and len(r["rows"][0]["seconds"]) == 1
    assert r["rows"][0]["omp_wait_policy"] == "default"
    assert r["skipped"] == {"1.0": "cannot create a cgroup with a 1-CPU quota: read-only file system"}
    assert r["budget"]["none"]["budget_cpus"] == cpu_budget().cpus


# ----------------------------------------------------------------------------- the READMEs against the runs
RESULTS = BENCH / "results"


def _section() -> str:
    text = (BENCH / "README.md").read_text()
    return text[text.index("### 5. Threads and CPU quotas"):text.index("### GPU rows")]


def _run(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _ratio(run: dict, workload: str, threads, quota, wait: str = "default") -> float:
    (row,) = [r for r in run["rows"] if (r["workload"], r["threads"], r["quota_cpus"],
                                         r.get("omp_wait_policy", "default")) == (workload, threads, quota, wait)]
    return row.get("vs_base", row.get("vs_first_threads"))


def test_benchmarks_readme_shows_the_runs_tables_and_ratios():
    section = _section()
    a, b, c = _run("threads_quiet"), _run("threads_busy"), _run("threads_busy_wait")
    for run in (a, b):
        rows = [line for line in run["table"].splitlines() if line.startswith("| ")]
        assert rows and all(line in section for line in rows)
    assert f"load average fell\nto {a['load_before'][0]:.2f}, {a['load_after'][0]:.2f} at the end" in section

    def x(run, *key):
        return f"{_ratio(run, *key):.2f}x"

    says = [f"training step {x(a, 'mlp_train', 2, None)} slower than one without a quota and the U-Net's "
            f"{x(a, 'unet_train', 2, None)}; in run B\n  {x(b, 'mlp_train', 2, None)} and "
            f"{x(b, 'unet_train', 2, None)}.",
            f"two passive threads at {x(a, 'unet_train', 2, None, 'PASSIVE')}\n",
            f"two threads {x(c, 'mlp_train', 2, None)} (MLP training)\n  and {x(c, 'unet_train', 2, None)} (U-Net), "
            f"two passive threads {x(c, 'mlp_train', 2, None, 'PASSIVE')} and "
            f"{x(c, 'unet_train', 2, None, 'PASSIVE')}.",
            f"under 1.5 CPUs two threads were {x(a, 'mlp_train', 2, 1.5)} and {x(a, 'unet_train', 2, 1.5)}\n",
            f"under 1 CPU {x(a, 'mlp_train', 2, 1.0)} and {x(a, 'unet_train', 2, 1.0)};",
            f"(two passive threads: {x(a, 'mlp_train', 2, None, 'PASSIVE')} of one thread's time",
            f"busy machine ({x(a, 'unet_train', 'policy', None)} in run A)"]
    for text in says:
        assert text in section, text
    # one thread with and without PASSIVE: the noise the prose quotes
    quotas, loads = (None, 1.5, 1.0), ("mlp_train", "mlp_sample", "unet_train")
    noise = max(max(r, 1 / r) for r in (_ratio(a, w, 1, q, "PASSIVE") for w in loads for q in quotas))
    assert f"differ by up to {noise:.2f}x in run\n  A" in section
    # what the prose claims of every cell: one thread never slower than two for the MLP in run A, 4 beat 2 in
    # run B, and cpu_budget chose 1 under both quotas (the rows' medians, not a rounded figure)
    assert all(_ratio(a, w, 2, q, wait) >= 1 for w in loads[:2] for q in quotas for wait in ("default", "PASSIVE"))
    assert all(_ratio(b, w, 4, q) < _ratio(b, w, 2, q) for w in loads for q in quotas)
    assert [a["budget"][k]["budget_cpus"] for k in ("none", "1.5 CPU", "1 CPU")] == [2, 1, 1]


def test_readme_names_the_small_model_threshold():
    readme = (ROOT / "README.md").read_text()
    assert f"models under {SMALL_MODEL_PARAMETERS:,} parameters" in readme


def test_configure_threads_caps_numpy_and_scipy_blas_too():
    """OpenBLAS keeps its own pool (one thread per core): configure_threads caps it with torch's count, so FID's
    sqrtm and KID's kernels do not run two spinning threads on a CPU that a quota or another job has halved."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg  # noqa: F401 (its OpenBLAS is loaded, so it is listed below)

    before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # a known start: 2 threads each
        try:
            configure_threads(1)
            blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
            assert blas and all(n == 1 for n in blas), blas
        finally:
            torch.set_num_threads(before)

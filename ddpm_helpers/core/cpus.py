"""How many CPUs this process may use, and why: the affinity mask and the container's CPU quota.

torch starts one thread per core of the *host*. A notebook on a shared server (JupyterHub, Binder,
``docker --cpus 1``) may be allowed far less: the kernel's CFS bandwidth control lets its cgroup run
``quota`` microseconds per ``period``, and every thread beyond that waits, throttled, while the others
wait for it at the end of each parallel region (benchmarks/README.md, "Threads and CPU quotas").

:func:`cpu_budget` reads both limits (Linux cgroups; elsewhere the affinity mask or the CPU count):

* the affinity mask: ``os.sched_getaffinity(0)`` (``taskset``, cpusets), else ``os.process_cpu_count()``
  (Python 3.13), else ``os.cpu_count()``;
* cgroup v2: ``cpu.max`` holds ``"max 100000"`` (no quota) or ``"<quota> <period>"`` in microseconds;
* cgroup v1: ``cpu.cfs_quota_us`` (``-1``: no quota) and ``cpu.cfs_period_us``.

The cgroup files are found like the JVM and Go's automaxprocs find them: the process's cgroup path
(``/proc/self/cgroup``: ``0::<path>`` for v2, ``<id>:cpu,cpuacct:<path>`` for v1) is taken relative to
the root of the matching mount (``/proc/self/mountinfo``), and the quota of that cgroup and of each
ancestor up to the mount point is read: the smallest one binds. Inside a container with a cgroup
namespace the path is ``/`` and the files sit at the mount point itself. Every path is read under
``root`` so tests can hand in a fake ``/proc`` and ``/sys``.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["CpuBudget", "Quota", "affinity_cpus", "cgroup_quota", "cpu_budget", "ThreadChoice", "thread_choice"]


@dataclass(frozen=True)
class Quota:
    cpus: float     # the quota in CPUs: quota / period (1.5 = one and a half CPUs' time per period)
    file: str       # "cpu.max" (cgroup v2) or "cpu.cfs_quota_us" (cgroup v1)
    path: str       # the directory that holds it, as read (under ``root``)


@dataclass(frozen=True)
class CpuBudget:
    cpus: int               # CPUs this process may keep busy: min(affinity, floor(quota)), at least 1
    affinity: int           # CPUs it may be scheduled on (the affinity mask, or the CPU count)
    affinity_source: str    # "affinity mask", "os.process_cpu_count()" or "os.cpu_count()"
    quota: Quota | None     # the binding (smallest) cgroup CPU quota, None when there is none

    @property
    def reason(self) -> str:
        """Why ``cpus``: "cgroup cpu.max quota 1.0 CPU of 2 CPUs" or "2 CPUs in the affinity mask, no quota"."""
        where = (f"{_plural(self.affinity, 'CPU')} in the affinity mask" if self.affinity_source == "affinity mask"
                 else f"{_plural(self.affinity, 'CPU')} ({self.affinity_source})")
        if self.quota is None:
            return f"{where}, no quota"
        q = self.quota
        text = f"{_cpus_text(q.cpus)} CPU{'' if q.cpus == 1 else 's'}"
        if q.cpus >= self.affinity:
            return f"{where}; cgroup {q.file} quota {text}"
        rounded = "" if q.cpus == self.cpus else ", rounded down" if q.cpus > 1 else ", at least 1"
        return f"cgroup {q.file} quota {text} of {_plural(self.affinity, 'CPU')}{rounded}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _cpus_text(cpus: float) -> str:
    """1.0 -> "1.0", 1.5 -> "1.5", 0.25 -> "0.25": at most two decimals, at least one."""
    text = f"{cpus:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def affinity_cpus() -> tuple[int, str]:
    """``(count, source)``: the CPUs this process may be scheduled on and where that number came from."""
    if hasattr(os, "sched_getaffinity"):  # Linux and most Unix: taskset, cpusets, docker --cpuset-cpus
        return len(os.sched_getaffinity(0)), "affinity mask"
    if hasattr(os, "process_cpu_count"):  # Python 3.13+ on Windows (its affinity) and macOS
        return os.process_cpu_count() or 1, "os.process_cpu_count()"
    return os.cpu_count() or 1, "os.cpu_count()"


def _read(path: Path) -> str | None:
    """The file's text, or None when it is missing or unreadable (a cgroup file we may not read)."""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _unescape(field: str) -> str:
    r"""mountinfo escapes space, tab, newline and backslash as \040, \011, \012 and \134."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _cpu_mounts(root: Path) -> list[tuple[int, str, str]]:
    """``(version, mount root, mount point)`` of the cgroup hierarchies that control CPU bandwidth.

    From ``/proc/self/mountinfo`` (fields: id parent dev root mountpoint options ... - fstype source
    superoptions); when it cannot be read, the conventional places with the whole hierarchy mounted."""
    text = _read(root / "proc/self/mountinfo")
    if text is None:
        return [(2, "/", "/sys/fs/cgroup"), (1, "/", "/sys/fs/cgroup/cpu"), (1, "/", "/sys/fs/cgroup/cpu,cpuacct")]
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        fstype, super_options = tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            mounts.append((2, _unescape(fields[3]), _unescape(fields[4])))
        elif fstype == "cgroup" and "cpu" in super_options:
            mounts.append((1, _unescape(fields[3]), _unescape(fields[4])))
    return mounts


def _own_cgroups(root: Path) -> dict[int, str]:
    """This process's cgroup path per version, from ``/proc/self/cgroup`` ({} when unreadable)."""
    paths = {}
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            paths[2] = path
        elif "cpu" in controllers.split(","):
            paths[1] = path
    return paths


def _quota_in(directory: Path, version: int) -> float | None:
    """The CPU quota set in one cgroup directory, in CPUs; None when there is none or it cannot be read."""
    try:
        if version == 2:
            text = _read(directory / "cpu.max")
            if text is None:
                return None
            fields = text.split()
            if not fields or fields[0] == "max":
                return None
            quota, period = int(fields[0]), int(fields[1]) if len(fields) > 1 else 100_000
        else:
            quota_text, period_text = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
            if quota_text is None or period_text is None:
                return None
            quota, period = int(quota_text), int(period_text)
    except ValueError:  # a file in a format we do not know: no quota we can trust
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_quota(root: str | os.PathLike = "/") -> Quota | None:
    """The smallest CPU quota of this process's cgroup and its ancestors (v1 and v2), or None.

    ``root``: where ``proc/`` and ``sys/`` are read from ("/" on a real system; a fake tree in tests).
    Linux only; elsewhere None.
    """
    root = Path(root)
    own = _own_cgroups(root)
    best: Quota | None = None
    for version, mount_root, mount_point in _cpu_mounts(root):
        if version not in own:
            continue
        path, base = PurePosixPath(own[version]), PurePosixPath(mount_root)
        # 1. the cgroup's directory under the mount point (the mount point itself when the
        #    path is not below the mount's root: a cgroup namespace, or a container's own mount)
        rel = path.relative_to(base) if path == base or base in path.parents else PurePosixPath(".")
        mount_dir = root / mount_point.lstrip("/")
        directory = mount_dir / rel
        # 2. that cgroup and every ancestor up to the mount point: the smallest quota binds
        while True:
            cpus = _quota_in(directory, version)
            if cpus is not None and (best is None or cpus < best.cpus):
                best = Quota(cpus, "cpu.max" if version == 2 else "cpu.cfs_quota_us", str(directory))
            if directory == mount_dir or mount_dir not in directory.parents:
                break
            directory = directory.parent
    return best


def cpu_budget(root: str | os.PathLike = "/", platform: str | None = None) -> CpuBudget:
    """How many CPUs this process may keep busy, and why (:attr:`CpuBudget.reason`).

    ``min(affinity, floor(quota))``, at least 1. A fractional quota rounds **down**: a thread more than
    the quota covers is throttled for part of every period, and torch's OpenMP threads wait for each
    other at the end of every parallel region, spinning (which spends the quota too) unless
    ``OMP_WAIT_POLICY=PASSIVE``. Under a 1.5-CPU quota two threads measured several times slower than
    one, for the moons MLP and the U-Net alike (benchmarks/README.md, "Threads and CPU quotas"); Go's
    automaxprocs rounds down too. ``platform`` (default ``sys.platform``) decides whether cgroups are
    read at all: only on Linux.
    """
    affinity, source = affinity_cpus()
    quota = cgroup_quota(root) if (platform or sys.platform).startswith("linux") else None
    cpus = affinity if quota is None else max(1, min(affinity, math.floor(quota.cpus)))
    return CpuBudget(cpus=cpus, affinity=affinity, affinity_source=source, quota=quota)


@dataclass(frozen=True)
class ThreadChoice:
    threads: int    # the CPU thread count to use
    reason: str     # why: "DDPM_THREADS", "argument" or the CPU budget's reason


def thread_choice(threads: int | None = None, root: str | os.PathLike = "/") -> ThreadChoice:
    """The thread count a notebook or script should use: ``threads`` when given, else ``$DDPM_THREADS``
    when set, else :func:`cpu_budget` (never the host's core count: a container's quota binds).

    Raises ValueError naming DDPM_THREADS when it is set but not a positive integer, and naming
    ``threads`` when that is not one.
    """
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads must be None or an integer >= 1, got {threads!r}")
        return ThreadChoice(threads, "argument")
    env = os.environ.get("DDPM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"DDPM_THREADS must be a positive integer (or unset: the CPUs this process "
                             f"may use), got {os.environ['DDPM_THREADS']!r}")
        return ThreadChoice(n, "DDPM_THREADS")
    budget = cpu_budget(root)
    return ThreadChoice(budget.cpus, budget.reason)

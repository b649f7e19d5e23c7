"""The numbers that must not depend on the CPU, checked again on a second instruction set in this same suite.

torch picks its vector kernels by CPU (``torch.backends.cpu.get_cpu_capability()``: DEFAULT, AVX2, AVX512 on
x86) and honours ``ATEN_CPU_CAPABILITY`` to pick a lower one; oneDNN's convolutions honour ``ONEDNN_MAX_CPU_ISA``.
A student's laptop (an AVX2-only AMD, an ARM Mac: DEFAULT-like kernels) rounds differently from the machine the
suite was written on. Here a few tests of numbers that must not move (a copy's distance is exactly 0; a batch of
t gives what each t gives alone, within round-off) run again in a subprocess on kernels this CPU does not pick by
itself, so the suite sees a second set of kernels on every machine (a few seconds: one more torch start).
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# the same cap for oneDNN's convolutions, on x86 (where these names exist)
ONEDNN_ISA = {"default": "SSE41", "avx2": "AVX2"} if platform.machine().lower() in ("x86_64", "amd64") else {}
TESTS = ["tests/test_classifier_metrics.py::test_nearest_neighbours_matches_brute_force_and_finds_copies[64]",
         "tests/test_classifier_metrics.py::test_nearest_neighbours_finds_the_copy_among_near_copies",
         "tests/test_forward.py::test_q_sample_per_item_t_images"]


def _other_capability() -> str:
    """A torch CPU capability this machine has but does not use by default: AVX2 under AVX-512, else DEFAULT."""
    return "avx2" if torch.backends.cpu.get_cpu_capability() == "AVX512" else "default"


def test_cpu_independent_numbers_on_a_second_instruction_set():
    cap = _other_capability()
    if torch.backends.cpu.get_cpu_capability() == cap.upper():
        pytest.skip(f"torch already runs its {cap.upper()} kernels here; there is no lower set to try")
    # a lean pytest: no plugins (nbval's imports alone cost seconds) and none of pyproject's addopts that need them
    env = {**os.environ, "ATEN_CPU_CAPABILITY": cap, "DDPM_TEST_THREADS": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    if cap in ONEDNN_ISA:
        env["ONEDNN_MAX_CPU_ISA"] = ONEDNN_ISA[cap]
    code = ("import sys, pytest, torch; print('capability', torch.backends.cpu.get_cpu_capability()); "
            f"sys.exit(pytest.main(['-q', '-o', 'addopts=', '-p', 'no:cacheprovider', *{TESTS!r}]))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = run.stdout
    assert f"capability {cap.upper()}" in out, f"ATEN_CPU_CAPABILITY={cap} was not honoured:\n{out[:300]}"
    assert run.returncode == 0, f"on torch's {cap.upper()} kernels:\n{out[-3000:]}\n{run.stderr[-2000:]}"
    assert " passed" in out and "skipped" not in out and "deselected" not in out, out[-500:]

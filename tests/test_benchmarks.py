"""Every benchmark script runs from the repository with its documented command, at toy sizes.

The figures themselves are measured by hand (benchmarks/README.md); these tests only make sure the
scripts keep working: each runs as ``__main__`` with toy arguments, prints its table and writes its
JSON, here into a temporary folder so that benchmarks/results/ is never touched. They run in this
process (runpy), which saves an interpreter start and reuses the test set's cached classifier features.
"""
from __future__ import annotations

import json
import math
import runpy
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

REF = "reference (DataLoader, fp32, no EMA)"

# script, toy arguments, JSON name (CPU only here), what the JSON must say about that run
CASES = [
    ("train_throughput.py", ["--steps", "1", "--rounds", "1", "--batch-size", "4"], "train_throughput_cpu",
     lambda r: r["steps_per_block"] == 1 and r["batch_size"] == 4
     and [x["loop"].strip() for x in r["rows"]] == ["ddpm_helpers.train", "float32, channels_last",
                                                    "float32, contiguous", "bf16 autocast, channels_last",
                                                    "bf16 autocast, contiguous", REF]
     and r["amp_auto"] in ("bf16", "off") and r["amx"] == (r["amp_auto"] == "bf16")
     and r["rows"][-1]["vs reference"] == "1.00x" and all(len(v) == 1 and v[0] > 0 for v in r["seconds"].values())),
    ("profile_train.py", ["--steps", "1", "--batch-size", "4", "--rows", "5"], "profile_train_cpu",
     lambda r: r["steps"] == 1 and r["batch_size"] == 4 and "aten::" in r["table"]),
    ("sampling.py", ["--n", "1", "--rounds", "1", "--weights", "{tiny}"], "sampling_cpu",
     lambda r: r["n"] == 1 and [x["model calls"] for x in r["rows"]] == [1000, 10, 20, 50, 100]
     and r["rows"][0]["speed-up vs DDPM"] == "1.0x"),
    ("ddim_table.py", ["--n", "8", "--steps", "5", "--etas", "0", "--no-ddpm", "--weights", "{tiny}"], "ddim_table_cpu",
     lambda r: r["n"] == 8 and len(r["rows"]) == 1 and r["rows"][0]["steps"] == 5 and r["rows"][0]["eta"] == 0
     and math.isfinite(r["rows"][0]["fid"]) and r["floor"]["fid"] > 0 and r["weights_steps"] == 0),
    ("cpu_suite.py", ["--skip-suite", "--block", "20", "--max-blocks", "1"], "cpu_suite",
     lambda r: "suite" not in r and [x["steps"] for x in r["moons"]["rows"]] == [20] and r["moons"]["floor"] > 0),
]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A 2-level, 8-channel U-Net checkpoint with its schedule: the sampling scripts' logic at a toy cost."""
    from ddpm_helpers import NoiseSchedule, UNet, save_checkpoint

    path = tmp_path_factory.mktemp("weights") / "tiny_unet.pt"
    torch.manual_seed(0)
    save_checkpoint(path, UNet(base_channels=8, channel_mults=(1, 2), groups=4), NoiseSchedule.linear(1000),
                    meta={"steps": 0})
    return path


@pytest.fixture
def run_script(tmp_path, monkeypatch, capsys, tiny_checkpoint):
    """Run benchmarks/SCRIPT as __main__ with ARGS on the CPU; return (stdout, the JSON it wrote)."""
    monkeypatch.syspath_prepend(str(BENCH))
    threads, rng = torch.get_num_threads(), torch.get_rng_state()

    def run(script, args, name):
        import _common

        monkeypatch.setattr(_common, "RESULTS", tmp_path)
        args = [a.format(tiny=tiny_checkpoint) for a in args]
        monkeypatch.setattr(sys, "argv", [script, *args, *(["--device", "cpu"] if script != "cpu_suite.py" else [])])
        try:
            runpy.run_path(str(BENCH / script), run_name="__main__")
        finally:
            torch.set_num_threads(threads)
            torch.set_rng_state(rng)
        return capsys.readouterr().out, json.loads((tmp_path / f"{name}.json").read_text())

    return run


@pytest.mark.parametrize("script,args,name,expect", CASES, ids=[c[0] for c in CASES])
def test_benchmark_script_runs(run_script, script, args, name, expect):
    out, result = run_script(script, args, name)
    assert "| " in out or "Name" in out, out[-2000:]  # its table was printed
    assert expect(result), json.dumps(result, default=str)[:3000]
    assert result["env"]["torch"] == torch.__version__ and result["env"]["device"] == "cpu"


def test_time_to_quality_stops_when_reached(run_script):
    """With a factor no model can miss, the run stops at its first evaluation and reports that time."""
    args = ["--n", "16", "--batch-size", "8", "--eval-every", "2", "--minutes", "5", "--factor", "1e9"]
    out, result = run_script("time_to_quality.py", args, "time_to_quality_cpu")
    assert len(result["rows"]) == 1 and result["rows"][0]["step"] == 2
    assert 0 < result["minutes_to_quality"] < 5
    assert "within 1000000000.0x after" in out


def test_time_to_quality_not_reached_and_save(run_script, tmp_path):
    """Out of time before the factor is met: minutes_to_quality is None and the script says so.
    --save writes the EMA weights with their schedule, a checkpoint the sampling scripts take (--weights)."""
    ckpt = tmp_path / "ttq.pt"
    args = ["--n", "16", "--batch-size", "8", "--eval-every", "2", "--minutes", "0", "--factor", "1e-9",
            "--save", str(ckpt)]
    out, result = run_script("time_to_quality.py", args, "time_to_quality_cpu")
    assert result["minutes_to_quality"] is None and len(result["rows"]) == 1
    assert "not within 1e-09x in 0.0 min of training (budget 0 min)" in out
    assert result["steps_trained"] == 2 and result["interrupted"] is False and f"saved the EMA weights to {ckpt}" in out
    import _common  # what sampling.py and ddim_table.py call for --weights

    model, sched, meta = _common.load_model(str(ckpt), torch.device("cpu"))
    assert sched is not None and sched.T == 1000 and meta["steps"] == 2 and meta["batch_size"] == 8


def test_sampling_scripts_reject_unknown_weights(run_script):
    with pytest.raises(ValueError, match="--weights must be 'fashion_unet' or a checkpoint file, got 'nope.pt'"):
        run_script("sampling.py", ["--n", "1", "--weights", "nope.pt"], "sampling_cpu")

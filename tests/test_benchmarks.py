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


TTQ_TOY = ["--batch-size", "8", "--width", "8", "--no-attention", "--curve-every", "0", "--curve-n", "8",
           "--curve-steps", "2", "--final-n", "16", "--final-steps", "2", "--minutes", "0"]


def test_time_to_quality_curve_final_point_and_save(run_script, tmp_path):
    """A zero budget stops at the first log step (25 steps); the curve has its point there, the final point
    is measured at --final-n with its bootstrap spread and floor, and --save writes the EMA weights with their
    schedule, a checkpoint the sampling scripts take (--weights). Every lever lands in the run's config."""
    ckpt = tmp_path / "ttq.pt"
    out, r = run_script("time_to_quality.py", [*TTQ_TOY, "--tag", "toy", "--lr", "3e-4", "--min-snr-gamma", "5",
                                               "--schedule", "cosine", "--no-ema-warmup", "--attention-levels", "1",
                                               "--save", str(ckpt)], "ttq/toy")
    assert r["steps"] == 25 and r["interrupted"] is False and r["args"]["min_snr_gamma"] == 5
    assert [p["step"] for p in r["curve"]] == [25] and r["curve"][0]["n"] == 8
    assert r["final"]["n"] == 16 and r["final"]["fid_std"] > 0 and r["floor"]["n"] == 16
    assert r["precision"] in ("bf16", "off") and f"saved the EMA weights to {ckpt}" in out
    assert "[toy] 25 steps" in out
    import _common  # what sampling.py and ddim_table.py call for --weights

    model, sched, meta = _common.load_model(str(ckpt), torch.device("cpu"))
    assert sched.kind == "cosine" and sched.T == 1000 and meta["steps"] == 25 and meta["tag"] == "toy"
    assert model.config.base_channels == 8 and model.config.attention is False
    assert model.config.attention_levels == (1,) and r["args"]["no_ema_warmup"] is True


def test_time_to_quality_table_lists_every_run(run_script, capsys):
    for tag, extra in (("a", []), ("b", ["--amp", "off"])):
        run_script("time_to_quality.py", [*TTQ_TOY, "--tag", tag, *extra], f"ttq/{tag}")
    out, written = run_script("time_to_quality.py", ["--table"], "ttq_table")
    assert [row["run"] for row in written["rows"]] == ["a", "b"] and written["floor"]["seeds"] == 5
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| run | what changes | threads | precision | parameters (M) | minutes | steps |")
    assert [line.split("|")[1].strip() for line in lines[1:]] == ["a", "b"]
    assert lines[2].split("|")[4].strip() == "off"


def test_time_to_quality_sampler_grid(run_script):
    """--sampler-grid: no training; the four clip x eta rows of fixed weights, each with its FID spread."""
    out, r = run_script("time_to_quality.py", ["--sampler-grid", "{tiny}", "--final-n", "8", "--final-steps", "2"],
                        "ttq_sampler_grid")
    assert [(x["clip_x0"], x["eta"]) for x in r["rows"]] == [(False, 0.0), (False, 1.0), (True, 0.0), (True, 1.0)]
    assert all(x["n"] == 8 and x["fid_std"] > 0 for x in r["rows"]) and r["weights_steps"] == 0
    assert r["rows"][0]["fid"] != r["rows"][2]["fid"]  # clipping changes the samples of an untrained model
    assert "| x0 clipping | eta |" in out


def test_sampling_scripts_reject_unknown_weights(run_script):
    with pytest.raises(ValueError, match="--weights must be 'fashion_unet' or a checkpoint file, got 'nope.pt'"):
        run_script("sampling.py", ["--n", "1", "--weights", "nope.pt"], "sampling_cpu")


def test_ddim_table_ships_its_run_as_notebook_06s_table(run_script, tmp_path):
    """--ship turns the last run into the JSON notebook 06 reads: the run's numbers with their spreads and
    paired differences to DDPM, where and when it ran, and the idle seconds kept from the table it replaces
    (they belong to the architecture); the notebook's readers take it."""
    from ddpm_helpers import NoiseSchedule, UNet, save_checkpoint
    from ddpm_helpers.lessons.ddim.speed import premeasured_reading, premeasured_weights_note, table_beside_premeasured

    ckpt = tmp_path / "tiny_t50.pt"  # a 50-step schedule: the DDPM row costs 50 calls, not 1000
    torch.manual_seed(0)
    save_checkpoint(ckpt, UNet(base_channels=8, channel_mults=(1, 2), groups=4), NoiseSchedule.linear(50),
                    meta={"steps": 0})
    _, run = run_script("ddim_table.py", ["--n", "8", "--steps", "5", "--etas", "0", "--weights", str(ckpt)],
                        "ddim_table_cpu")
    dest = tmp_path / "shipped.json"
    dest.write_text(json.dumps({"what": "the table", "speed": "idle seconds from before", "rows": [
        {"sampler": "DDPM", "steps": 50, "eta": 1.0, "seconds_128_idle": 500.0},
        {"sampler": "DDIM", "steps": 5, "eta": 0.0, "seconds_128_idle": 3.0}]}))
    out, _ = run_script("ddim_table.py", ["--ship", str(dest), "--conditions", "idle"], "ddim_table_cpu")
    pre = json.loads(dest.read_text())
    assert f"wrote {dest}: n = 8, 2 rows" in out and pre["conditions"] == "idle" and pre["what"] == "the table"
    assert pre["n"] == 8 and pre["floor"] == run["floor"] and pre["weights_steps"] == 0 and pre["parameters"] > 0
    assert [r["seconds_128_idle"] for r in pre["rows"]] == [500.0, 3.0] and pre["commit"] == run["env"]["commit"]
    ddim = pre["rows"][1]
    assert (ddim["fid"], ddim["fid_minus_ddpm"], ddim["fid_minus_ddpm_std"]) == \
        (run["rows"][1]["fid"], run["rows"][1]["fid_minus_first"], run["rows"][1]["fid_minus_first_std"])
    assert "DDIM 5/η=0 (10x fewer model calls" in premeasured_reading(pre)  # 50 calls (T = 50) against 5
    assert "| DDIM | 5 | 0 | 5 | 10x fewer | 3.0 |" in table_beside_premeasured([], pre)
    assert premeasured_weights_note(pre, {"steps": 0}).startswith("The table was measured with these same weights")

"""Every figure README.md and benchmarks/README.md quote from a results file is the figure in that file.

Sources: the benchmark results (benchmarks/results/*.json, written by the scripts in benchmarks/) and the
shipped weights' model cards and metrics (ddpm_helpers/weights/NAME.md, NAME.metrics.json). A re-run that
rewrites a JSON without updating the prose fails here, naming the phrase to change. A README number is
compared at the precision it is printed with (one decimal in the README: the JSON's value rounded, half
up, to one decimal). Figures measured ad hoc, with no file behind them (earlier runs, side-by-side checks
by hand, the CI run's wall time), cannot be checked and are not.
"""
from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WEIGHTS = ROOT / "ddpm_helpers" / "weights"
README = (ROOT / "README.md").read_text()
BENCH_README = (ROOT / "benchmarks" / "README.md").read_text()


def result(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def card(name: str) -> dict[str, str]:
    """The ``- **key**: value`` lines of a model card (ddpm_helpers/weights/NAME.md)."""
    text = (WEIGHTS / f"{name}.md").read_text()
    return dict(re.findall(r"^- \*\*(\w+)\*\*: (.+)$", text, re.MULTILINE))


def printed(value: float | str, decimals: int) -> str:
    """``value`` rounded half up to ``decimals`` places, as the READMEs print it (24.5 -> "25")."""
    q = Decimal(1).scaleb(-decimals)
    return str(Decimal(str(value)).quantize(q, rounding=ROUND_HALF_UP))


def _number(text: str) -> str:
    return re.search(r"-?\d+(\.\d+)?", text).group(0)


def same_number(cell: str, value: float | str) -> bool:
    """Does a README cell ("44.0x", "**20.2x**", "61 %", "-1") print ``value`` ("44.04", "61%", ...) at its own
    precision?"""
    number = _number(cell)
    decimals = len(number.split(".")[1]) if "." in number else 0
    return printed(_number(value) if isinstance(value, str) else value, decimals) == number


def _flat(text: str) -> str:
    return " ".join(text.split())


def says(text: str, phrase: str, where: str, source: str) -> None:
    """``phrase`` is in ``text``, whatever the line breaks."""
    if _flat(phrase) not in _flat(text):
        pytest.fail(f"{where} should say {_flat(phrase)!r} (from {source}); it does not: stale?", pytrace=False)


def cells_of(line: str) -> list[str]:
    """The cells of a Markdown table row, without ** and backticks (an escaped \\| stays inside its cell)."""
    return [c.strip().replace("**", "").replace("`", "") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def row_of(text: str, first_cell: str) -> list[str]:
    return cells_of(next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |")))


def table_after(text: str, anchor: str) -> list[list[str]]:
    """The body rows (cells, without ** and backticks) of the first Markdown table after ``anchor``."""
    assert anchor in text, f"anchor {anchor!r} not found"
    rows, started = [], False
    for line in text[text.index(anchor):].splitlines():
        if line.startswith("|"):
            started = True
            cells = cells_of(line)
            if not set("".join(cells)) <= set("-: "):  # skip the |---|---| line
                rows.append(cells)
        elif started:
            break
    return rows[1:]  # without the header


def check_columns(rows: list[list[str]], expected: list[list[float | str]], where: str) -> None:
    """Each row's cells (after the label) against the file's values, in order."""
    assert len(rows) == len(expected), f"{where}: {len(rows)} rows in the README, {len(expected)} in the file"
    for cells, values in zip(rows, expected):
        for cell, value in zip(cells[1:], values):
            assert same_number(cell, value), f"{where}, row {cells[0]!r}: README {cell!r}, file {value!r}"


# ----------------------------------------------------------------------------- the shipped weights
@pytest.fixture(scope="module")
def unet():
    return json.loads((WEIGHTS / "fashion_unet.metrics.json").read_text())


def test_readme_model_table_is_the_model_cards(unet):
    u, c = card("fashion_unet"), card("fashion_classifier")
    ddim, ddpm, floors = unet["samplers"]["ddim50"], unet["samplers"]["ddpm1000"], unet["floors"]
    src = "ddpm_helpers/weights/fashion_unet.md and fashion_unet.metrics.json"
    says(README, f"{printed(int(u['parameters']) / 1e6, 2)} M parameters", "README.md", src)
    minutes = printed(float(u["train_seconds"]) / 60, 0)
    says(README, f"{printed(u['epochs'], 0)} epochs in {minutes} min on two CPU threads", "README.md", src)
    says(README, f"{u['steps']} steps at batch {u['batch_size']} ({printed(u['epochs'], 0)} epochs), "
                 f"{minutes} min on **two CPU threads**", "README.md", src)
    floor = floors[str(ddim["n"])]
    says(README, f"FID {printed(ddim['fid'], 2)} ± {printed(ddim['fid_std'], 2)} (DDIM 50) at n = {ddim['n']} against "
                 f"a real-vs-real floor of {printed(floor['fid'], 2)} ± {printed(floor['fid_std'], 2)} "
                 f"({printed(ddim['fid'] / floor['fid'], 1)}x)", "README.md", src)
    says(README, f"FID {printed(ddim['at_n_ddpm']['fid'], 2)} (DDIM 50) and {printed(ddpm['fid'], 2)} (DDPM 1000) "
                 f"at n = {ddpm['n']} (floor {printed(floors[str(ddpm['n'])]['fid'], 2)})", "README.md", src)
    hist = ddim["class_histogram"]
    says(README, f"all {sum(h > 0 for h in hist)} classes present (classifier histogram {min(hist)}–{max(hist)} "
                 f"per class of {ddim['n']})", "README.md", src)
    says(README, f"{c['epochs']} epochs, {printed(c['train_seconds'], 0)} s on one CPU thread", "README.md",
         "ddpm_helpers/weights/fashion_classifier.md")
    says(README, f"{printed(float(c['test_accuracy']) * 100, 2)} % test accuracy", "README.md",
         "ddpm_helpers/weights/fashion_classifier.md")
    for name in ("fashion_unet", "fashion_cond_unet", "fashion_classifier"):
        size = row_of(README, f"`{name}`")[2]
        assert size == f"{printed((WEIGHTS / f'{name}.pt').stat().st_size / 1e6, 1)} MB", f"{name}.pt is not {size}"


def test_readme_row_of_the_conditional_unet_is_its_card_and_tradeoff():
    k = card("fashion_cond_unet")
    t = json.loads((WEIGHTS / "fashion_cond_unet.tradeoff.json").read_text())
    src = "ddpm_helpers/weights/fashion_cond_unet.md and fashion_cond_unet.tradeoff.json"
    row = next(line for line in README.splitlines() if line.startswith("| `fashion_cond_unet` |"))
    rec = t["recommended"]["scale"]
    r = next(r for r in t["rows"] if r["scale"] == rec)
    r0 = next(r for r in t["rows"] if r["scale"] == 0.0)
    f = t["floor"]
    says(row, f"{k['steps']} steps at batch {k['batch_size']}, {printed(float(k['train_seconds']) / 60, 0)} min on "
              f"**two CPU threads**", "README.md", src)
    says(row, f"label dropout {k['label_dropout']}", "README.md", src)
    says(row, f"at the recommended guidance scale s = {rec:g}: {printed(100 * r['accuracy'], 1)} % "
              f"({printed(100 * r['acc_lo'], 1)}–{printed(100 * r['acc_hi'], 1)}) of {r['n']} samples classified as "
              f"their label, against {printed(100 * r0['accuracy'], 1)} % at s = 0", "README.md", src)
    says(row, f"mean per-class KID (x 1e3) {printed(1e3 * r['kid_mean'], 1)} ± {printed(1e3 * r['kid_mean_std'], 1)} "
              f"against a floor of {printed(1e3 * f['kid_mean'], 1)} ± {printed(1e3 * f['kid_mean_std'], 1)}",
         "README.md", src)


# ----------------------------------------------------------------------------- training throughput
def _throughput_cells(r):
    return [[row["images/s"], row["vs reference"], row["min..max images/s"].split("..")[0]] for row in r["rows"]]


def test_training_throughput_tables():
    amx = result("train_throughput_cpu_idle_2threads_amx")
    rows = table_after(BENCH_README, "**A CPU with AMX**")
    check_columns(rows, _throughput_cells(amx), "benchmarks/README.md, AMX table")
    for cells, row in zip(rows, amx["rows"]):
        assert cells[3] == row["min..max images/s"], (cells, row)
        assert row["loop"].strip().split(" (")[0] in cells[0], (cells[0], row["loop"])
    one, two = result("train_throughput_cpu_idle_1thread"), result("train_throughput_cpu_idle_2threads")
    rows = table_after(BENCH_README, "**A CPU without AMX**")
    expected = [[a["images/s"], a["vs reference"], a["min..max images/s"],
                 b["images/s"], b["vs reference"], b["min..max images/s"]] for a, b in zip(one["rows"], two["rows"])]
    assert len(rows) == len(expected)
    for cells, values in zip(rows, expected):
        assert cells[1:] == values, f"benchmarks/README.md, no-AMX table, row {cells[0]!r}: {cells[1:]} vs {values}"
    busy = {r["loop"].strip(): r for r in result("train_throughput_cpu")["rows"]}
    ours, ref = busy["ddpm_helpers.train"], busy["reference (DataLoader, fp32, no EMA)"]
    says(BENCH_README, f"`ddpm_helpers.train` {ours['images/s']} images/s ({ours['min..max images/s']}), without "
                       f"channels_last {busy['without channels_last']['images/s']}, with bf16 autocast "
                       f"{busy['with bf16 autocast']['images/s']},\nreference {ref['images/s']} "
                       f"({ref['min..max images/s']}): {ours['vs reference']}", "benchmarks/README.md",
         "results/train_throughput_cpu.json")


def test_training_throughput_in_prose():
    amx = {r["loop"].strip(): r for r in result("train_throughput_cpu_idle_2threads_amx")["rows"]}
    one = {r["loop"].strip(): r for r in result("train_throughput_cpu_idle_1thread")["rows"]}
    two = {r["loop"].strip(): r for r in result("train_throughput_cpu_idle_2threads")["rows"]}
    ours, old = amx["ddpm_helpers.train"], amx["float32, channels_last"]
    ref = amx["reference (DataLoader, fp32, no EMA)"]
    src = "results/train_throughput_cpu_idle_*.json"
    speedup = printed(float(ours["images/s"]) / float(old["images/s"]), 1)
    says(BENCH_README, f"trains {speedup}x faster than the old one ({ours['images/s']} against {old['images/s']} "
                       f"images/s)", "benchmarks/README.md", src)
    says(BENCH_README, f"**met on a CPU with AMX: {ours['vs reference']}** ({ours['images/s']} against "
                       f"{ref['images/s']} images/s", "benchmarks/README.md", src)
    says(BENCH_README, f"**Not met on a CPU without AMX: {one['ddpm_helpers.train']['vs reference']}**",
         "benchmarks/README.md", src)
    bf16 = one["with bf16 autocast"]["vs reference"]
    says(BENCH_README, f"bf16 is {bf16} and stays off", "benchmarks/README.md", src)
    says(README, f"bf16 is {bf16} there", "README.md", src)
    says(README, f"our training loop is {ours['vs reference']} a\ntutorial loop on a CPU with AMX", "README.md", src)
    says(README, f"and {one['ddpm_helpers.train']['vs reference']} on one without", "README.md", src)
    # two threads against one, same loop, idle machine
    gain = {k: float(two[k]["images/s"]) / float(one[k]["images/s"])
            for k in ("ddpm_helpers.train", "reference (DataLoader, fp32, no EMA)")}
    says(BENCH_README, f"{printed(gain['ddpm_helpers.train'], 2)}x for ours, "
                       f"{printed(gain['reference (DataLoader, fp32, no EMA)'], 2)}x for the reference",
         "benchmarks/README.md", src)
    low = printed(min(gain.values()), 2)
    says(BENCH_README, f"Two threads make both loops {low}–", "benchmarks/README.md", src)
    says(README, f"train {low}–", "README.md", src)


def test_profile_shares():
    table = result("profile_train_cpu")["table"]
    self_pct = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s*(\S.*?)\s{2,}([\d.]+)%", table, re.MULTILINE)}
    total_pct = {m.group(1): float(m.group(2))
                 for m in re.finditer(r"^\s*(\S.*?)\s{2,}[\d.]+%\s+\S+\s+([\d.]+)%", table, re.MULTILINE)}
    shares = {"convolution backward": self_pct["aten::convolution_backward"],
              "convolution\nforward": self_pct["aten::mkldnn_convolution"],
              "GroupNorm forward + backward": self_pct["aten::native_group_norm"]
              + self_pct["aten::native_group_norm_backward"],
              "SiLU forward + backward": self_pct["aten::silu"] + self_pct["aten::silu_backward"],
              "elementwise adds": self_pct["aten::add"] + self_pct["aten::add_"],
              "`cat`": self_pct["aten::cat"]}
    for label, pct in shares.items():
        says(BENCH_README, f"{label} {printed(pct, 0)} %", "benchmarks/README.md", "results/profile_train_cpu.json")
    says(BENCH_README, f"the AdamW step {printed(total_pct['Optimizer.step#AdamW.step'], 1)} %, the EMA update "
                       f"(`lerp_`) {printed(self_pct['aten::lerp_'], 1)} %", "benchmarks/README.md",
         "results/profile_train_cpu.json")


# ----------------------------------------------------------------------------- time to quality
def test_time_to_quality():
    r = result("time_to_quality_cpu")
    rows = table_after(BENCH_README, "**Before: the previous recipe**")
    assert [c[0] for c in rows] == [str(x["step"]) for x in r["rows"]]
    check_columns(rows, [[x["train min"], x["FID"], x["x floor"], x["KID"]] for x in r["rows"]],
                  "benchmarks/README.md, time-to-quality table")
    src = "results/time_to_quality_cpu.json"
    floor, last = r["floor_fid"], r["rows"][-1]
    says(BENCH_README, f"Floor at n = {r['n']}: FID {printed(floor, 2)}, so the target is FID <= "
                       f"{printed(r['factor'] * floor, 2)}", "benchmarks/README.md", src)
    fid = [float(x["FID"]) for x in r["rows"]]
    says(BENCH_README, f"it fell {printed(fid[0] / fid[1], 2)}x from {r['rows'][0]['step']} to {r['rows'][1]['step']} "
                       f"steps, and\n{printed(fid[1] / fid[2], 2)}x from", "benchmarks/README.md", src)
    minutes, times = printed(last["train min"], 0), printed(last["x floor"], 0)
    says(BENCH_README, f"after {minutes} minutes** of single-thread", "benchmarks/README.md", src)
    assert times == "17"


def test_previous_weights_against_their_floor():
    """The weights shipped before the recipe (3300 steps), kept in results/fashion_unet_3300steps.metrics.json."""
    old = result("fashion_unet_3300steps.metrics")
    ddim = old["samplers"]["ddim50"]
    floor = old["floors"][str(ddim["n"])]["fid"]
    says(BENCH_README, f"then: {old['weights_steps']} steps, 103 min, FID {printed(ddim['fid'], 2)} at n = {ddim['n']} "
                       f"against a floor of {printed(floor, 2)}, {printed(ddim['fid'] / floor, 1)}x)",
         "benchmarks/README.md", "results/fashion_unet_3300steps.metrics.json")


# ----------------------------------------------------------------------------- sampling and notebook 06's table
def test_sampling_speed():
    r = result("sampling_cpu")
    rows = table_after(BENCH_README, "### 3. Sampling")
    assert [c[0] for c in rows] == [x["sampler"] for x in r["rows"]]
    for cells, x in zip(rows, r["rows"]):
        assert cells[1:] == [str(x["model calls"]), x["seconds"], x["images/s"], x["speed-up vs DDPM"]], (cells, x)
    ddim50 = next(x for x in r["rows"] if x["sampler"] == "DDIM 50")["speed-up vs DDPM"]
    says(BENCH_README, f"| DDIM 50 >= 15x faster than DDPM 1000 | met: {ddim50} |", "benchmarks/README.md",
         "results/sampling_cpu.json")
    says(README, f"DDIM 50 samples {printed(ddim50.rstrip('x'), 0)}x faster than DDPM", "README.md",
         "results/sampling_cpu.json")


def test_speed_quality_table_at_n_128():
    """Measured with the previous weights (3300 steps): the DDPM row is from their evaluate-unet."""
    r = result("ddim_table_cpu_n128")
    ddpm = result("fashion_unet_3300steps.metrics")["samplers"]["ddpm1000"]
    rows = table_after(BENCH_README, "At n = 128 (same x_T")
    assert rows[0][0].startswith("DDPM 1000")
    assert rows[0][1:] == [printed(ddpm["seconds"], 0), printed(ddpm["fid"], 2), printed(ddpm["kid"] * 1e3, 1)]
    by = {(x["steps"], x["eta"]): x for x in r["rows"]}
    for cells in rows[1:]:
        steps = int(re.match(r"DDIM (\d+)", cells[0]).group(1))
        xs = [by[(steps, eta)] for eta in (0.0, 0.5, 1.0)]
        for cell, key, scale in ((cells[1], "seconds", 1), (cells[2], "fid", 1), (cells[3], "kid", 1e3)):
            for part, x in zip(cell.split(" / "), xs):
                assert same_number(part, x[key] * scale), f"DDIM {steps}, eta {x['eta']}: {key} {part} vs {x[key]}"
    src = "results/ddim_table_cpu_n128.json, results/fashion_unet_3300steps.metrics.json"
    says(BENCH_README, f"Real-against-real floor at n = {r['n']}: FID {printed(r['floor']['fid'], 2)}, KID x1e3 "
                       f"{printed(r['floor']['kid'] * 1e3, 1)}", "benchmarks/README.md", src)
    fast = by[(50, 0.0)]
    says(BENCH_README, f"DDIM 50 (eta 0) is {printed(ddpm['seconds'] / fast['seconds'], 1)}x faster than DDPM 1000",
         "benchmarks/README.md", src)
    says(BENCH_README, f"its FID is {printed(fast['fid'] / ddpm['fid'], 2)}x DDPM's", "benchmarks/README.md", src)


# ----------------------------------------------------------------------------- the CPU suite: moons, test suite
def test_moons_time_to_floor():
    m = result("cpu_suite")["moons"]
    src = "results/cpu_suite.json"
    says(BENCH_README, f"floor {printed(m['floor'], 4)}\nfrom two real draws", "benchmarks/README.md", src)
    says(BENCH_README, f"**within {m['factor']}x of the floor after {printed(m['seconds_to_floor'], 1)} s of "
                       f"training** ({m['rows'][-1]['steps']} steps)", "benchmarks/README.md", src)
    says(README, f"the moons model reaches its floor in {printed(m['seconds_to_floor'], 0)} s", "README.md", src)


def test_suite_timings():
    s = result("cpu_suite")["suite"]
    src = "results/cpu_suite.json"
    wall = s["wall_seconds"]
    says(BENCH_README, f"passed, {printed(wall, 1)} s wall**", "benchmarks/README.md", src)
    says(BENCH_README, f"{printed(s['test_seconds'], 1)} s of test time", "benchmarks/README.md", src)
    rows = table_after(BENCH_README, "| part | seconds | share |")
    assert [c[0].split(" (")[0] for c in rows] == [x["part"].split(" (")[0] for x in s["rows"]]
    check_columns(rows, [[x["seconds"], x["share"]] for x in s["rows"]], "benchmarks/README.md, suite table")
    secs = {x["part"]: float(x["seconds"]) for x in s["rows"]}
    nb = {k[:2]: v for k, v in secs.items() if k.endswith(".ipynb")}
    says(BENCH_README, f"Notebooks 01–03 together: {printed(nb['01'] + nb['02'] + nb['03'], 0)} s",
         "benchmarks/README.md", src)
    says(BENCH_README, f"Notebooks 04–06 together: {printed(nb['04'] + nb['05'] + nb['06'], 0)} s",
         "benchmarks/README.md", src)
    says(BENCH_README, f"| 2-core CPU: whole test suite < 5 min | met: {printed(wall, 0)} s wall on two workers",
         "benchmarks/README.md", src)
    # README.md: the quick-mode column of the series table, and `make test`'s time
    for number, seconds in nb.items():
        quick = row_of(README, number)[3]
        assert same_number(quick, seconds), f"README.md, notebook {number}: quick mode {quick!r}, {src} {seconds} s"
    minutes, rest = divmod(int(Decimal(str(wall)).quantize(Decimal(1), rounding=ROUND_HALF_UP)), 60)
    says(README, f"| {minutes} min {rest} s (", "README.md", src)
    says(README, f"quick mode ~{printed(sum(nb.values()) / 60, 1)} min of test time", "README.md", src)


def test_speed_quality_table_at_n_512():
    """Notebook 06's pre-measured table (benchmarks/README.md section 3 and the shipped JSON the notebook reads)."""
    r = result("ddim_table_cpu")
    rows = table_after(BENCH_README, f"At n = {r['n']} (`ddim_table.py --n {r['n']}`")
    assert len(rows) == len(r["rows"])
    for cells, x in zip(rows, r["rows"]):
        name = "DDPM 1000" if x["sampler"] == "DDPM" else f"DDIM {x['steps']}, eta {x['eta']:g}"
        diff = "-" if x["sampler"] == "DDPM" else f"{x['fid_minus_first']:+.2f} ± {x['fid_minus_first_std']:.2f}"
        assert cells == [name, str(x["model_calls"]), f"{x['fid']:.2f} ± {x['fid_std']:.2f}", diff,
                         f"{1e3 * x['kid']:.1f} ± {1e3 * x['kid_std']:.1f}"], (cells, x)
    f = r["floor"]
    says(BENCH_README, f"Real-against-real floor at n = {r['n']}: FID {f['fid']:.2f} ± {f['fid_std']:.2f} over "
                       f"{f['seeds']} draws", "benchmarks/README.md", "results/ddim_table_cpu.json")
    # the notebook's copy (ddpm_helpers/weights/fashion_unet.ddim_table.json) holds the same numbers
    shipped = json.loads((WEIGHTS / "fashion_unet.ddim_table.json").read_text())
    assert shipped["n"] == r["n"] and shipped["floor"] == r["floor"]
    for s, x in zip(shipped["rows"], r["rows"]):
        assert (s["fid"], s["fid_std"], s["fid_minus_ddpm"], s["fid_minus_ddpm_std"], s["kid"]) == \
            (x["fid"], x["fid_std"], x["fid_minus_first"], x["fid_minus_first_std"], x["kid"])
    from ddpm_helpers.lessons.ddim.speed import premeasured_reading

    says(BENCH_README, premeasured_reading(shipped), "benchmarks/README.md", "weights/fashion_unet.ddim_table.json")
    from ddpm_helpers import load_pretrained

    assert shipped["weights_steps"] == r["weights_steps"] == load_pretrained("fashion_unet")[2]["steps"], \
        "notebook 06's pre-measured table is not the shipped weights'"


# ----------------------------------------------------------------------------- the training recipe's ablation
def test_recipe_ablation_table():
    """benchmarks/README.md's ablation table is `time_to_quality.py --table` (results/ttq_table.json), and
    every row is its run's JSON (results/ttq/<run>.json)."""
    t = result("ttq_table")
    rows = table_after(BENCH_README, "**Ablation at equal wall-clock**")
    cols = list(t["rows"][0])
    assert rows == [[str(r[c]).replace("**", "") for c in cols] for r in t["rows"]]
    for r in t["rows"]:
        run = json.loads((RESULTS / "ttq" / f"{r['run']}.json").read_text())
        assert r["what changes"] == run["label"] and r["steps"] == run["steps"] and r["precision"] == run["precision"]
        assert r["FID"] == f"{run['final']['fid']:.2f} ± {run['final']['fid_std']:.2f}"
        assert r["x floor"] == f"{run['final']['fid'] / t['floor']['fid']:.0f}"
    f = t["floor"]
    says(BENCH_README, f"Floor at n = 2048: **FID {f['fid']:.2f} ± {f['fid_std']:.2f}** over {f['seeds']} draws",
         "benchmarks/README.md", "results/ttq_table.json")
    fid = {r["run"]: r["FID"].split(" ±")[0] for r in t["rows"]}
    for a, b in (("06-batch-64", "01-base"), ("04-no-decay-busy", "03-base-busy"),
                 ("08-cosine-schedule", "01-base")):
        says(BENCH_README, f"{fid[a]} against {fid[b]}", "benchmarks/README.md", "results/ttq/*.json")
    says(BENCH_README, f"min-SNR-5 weights** are neutral here ({fid['07-min-snr-5']} at", "benchmarks/README.md",
         "results/ttq/07-min-snr-5.json")
    says(BENCH_README, f"Row 10 combines batch 64, lr 2e-3, no decay and min-SNR-5: **{fid['10-recipe']}**",
         "benchmarks/README.md", "results/ttq/10-recipe.json")
    # rows 11-14 against the recipe (row 10)
    where, src = "benchmarks/README.md", "results/ttq/1[0-4]-*.json"
    says(BENCH_README, f"({fid['11-attention-14x14']} and {fid['12-res-blocks-2']} against {fid['10-recipe']})",
         where, src)
    says(BENCH_README, f"({fid['13-no-ema']} against {fid['10-recipe']})", where, src)
    steps = {r["run"]: r["steps"] for r in t["rows"]}
    says(BENCH_README, f"so {steps['11-attention-14x14']} steps against {steps['10-recipe']}", where, src)
    says(BENCH_README, f"the table ({fid['14-no-ema-warmup']}): with a fixed 0.999 the average still holds "
                       f"0.999^{steps['14-no-ema-warmup']} = {printed(100 * 0.999 ** steps['14-no-ema-warmup'], 0)} %",
         where, src)
    assert max(float(f) for f in fid.values()) == float(fid["14-no-ema-warmup"])  # "the worst row of the table"
    says(BENCH_README, f"gave {fid['15-recipe-repeat']} at {steps['15-recipe-repeat']} steps against "
                       f"{fid['10-recipe']} at {steps['10-recipe']}", where, "results/ttq/15-recipe-repeat.json")
    says(BENCH_README, f"gave {fid['16-warmup-0']} at {steps['16-warmup-0']} steps", where,
         "results/ttq/16-warmup-0.json")


def test_why_the_goal_is_missed_follows_the_cards_two_sample_sizes(unet):
    """The finite-n bias estimate of benchmarks/README.md ("Why the gap is large"): FID(n) = FID_inf + k / n
    through the card's FIDs at n = 128 and n = 2048, for the samples (DDIM 50) and for the real floor."""
    ddim, floors = unet["samplers"]["ddim50"], unet["floors"]
    big, small = ddim["n"], ddim["at_n_ddpm"]["n"]
    w = 1 / small - 1 / big

    def line(f_small, f_big):  # -> (bias at the big n, the limit at n -> infinity)
        k = (f_small - f_big) / w
        return k / big, f_big - k / big

    bias, limit = line(ddim["at_n_ddpm"]["fid"], ddim["fid"])
    fbias, flimit = line(floors[str(small)]["fid"], floors[str(big)]["fid"])
    need = 2 * floors[str(big)]["fid"] - bias
    where, src = "benchmarks/README.md", "ddpm_helpers/weights/fashion_unet.metrics.json"
    says(BENCH_README, f"at **{printed(bias, 2)}** for the samples and **{printed(fbias, 2)}** for", where, src)
    says(BENCH_README, f"at **{printed(limit, 2)}** (samples) and **{printed(flimit, 2)}** (real)", where, src)
    says(BENCH_README, f"**{printed(need, 2)}**: {printed(limit / need, 1)}x smaller than the shipped weights' "
                       f"{printed(limit, 2)}", where, src)
    says(BENCH_README, f"suggests\na factor of {printed(ddim['fid'] / (2 * floors[str(big)]['fid']), 1)}.", where, src)


def test_sampler_grid_table():
    """benchmarks/README.md's sampler-settings table: `time_to_quality.py --sampler-grid` (its JSON in results/)."""
    g = result("ttq_sampler_grid")
    rows = table_after(BENCH_README, "**Sampler settings at evaluation**")
    f = g["floor"]
    assert rows == [["on" if r["clip_x0"] else "off", f"{r['eta']:g}", f"{r['fid']:.2f} ± {r['fid_std']:.2f}",
                     f"{r['fid'] / f['fid']:.1f}", f"{1e3 * r['kid']:.1f} ± {1e3 * r['kid_std']:.1f}"]
                    for r in g["rows"]]
    fid = {(r["clip_x0"], r["eta"]): f"{r['fid']:.2f}" for r in g["rows"]}
    where, src = "benchmarks/README.md", "results/ttq_sampler_grid.json"
    says(BENCH_README, f"floor {f['fid']:.2f} ± {f['fid_std']:.2f} over {f['seeds']} draws:", where, src)
    says(BENCH_README, f"({fid[True, 0.0]} against {fid[False, 0.0]}, within", where, src)
    says(BENCH_README, f"({fid[False, 1.0]} against {fid[False, 0.0]}, about four spreads", where, src)
    from ddpm_helpers import load_pretrained

    assert g["weights_steps"] == load_pretrained("fashion_unet")[2]["steps"], "the grid is not the shipped weights'"


def test_the_recipe_is_the_ablations_winning_row():
    from ddpm_helpers import UNET_RECIPE

    args = json.loads((RESULTS / "ttq" / "10-recipe.json").read_text())["args"]
    ran = {"amp": args["amp"], "lr": args["lr"], "warmup": args["warmup"], "lr_decay": args["lr_decay"],
           "batch_size": args["batch_size"], "ema_decay": args["ema_decay"], "min_snr_gamma": args["min_snr_gamma"]}
    assert ran == UNET_RECIPE, "UNET_RECIPE is not the recipe benchmarks/README.md measured (row 10-recipe)"


def test_recipe_curve_and_the_shipped_weights(unet):
    """benchmarks/README.md's curve is the one the shipped checkpoint recorded while training, and its final
    point, the goal and the targets row are the model card's evaluation at n = 2048."""
    from ddpm_helpers import load_pretrained

    _, _, meta = load_pretrained("fashion_unet")
    rows = table_after(BENCH_README, "**The recipe's curve")
    assert rows == [[str(p["step"]), f"{p['minutes']:.1f}", f"{p['fid']:.2f}", f"{1e3 * p['kid']:.1f}"]
                    for p in meta["curve"]]
    ddim, floor = unet["samplers"]["ddim50"], unet["floors"][str(unet["samplers"]["ddim50"]["n"])]
    ratio, minutes = printed(ddim["fid"] / floor["fid"], 1), printed(meta["train_seconds"] / 60, 0)
    src = "ddpm_helpers/weights/fashion_unet.pt, fashion_unet.metrics.json"
    says(BENCH_README, f"**FID {printed(ddim['fid'], 2)} ± {printed(ddim['fid_std'], 2)} against a floor of "
                       f"{printed(floor['fid'], 2)} ± {printed(floor['fid_std'], 2)}, {ratio}x the floor, after "
                       f"{minutes} minutes of training** ({meta['steps']} steps of batch {meta['batch_size']}, "
                       f"{printed(meta['epochs'], 0)} epochs)", "benchmarks/README.md", src)
    met = ddim["fid"] <= 2 * floor["fid"]
    says(BENCH_README, f"| 2-core CPU: U-Net time to quality (2x floor) | {'met' if met else 'not met'}: {ratio}x the "
                       f"floor at n = {ddim['n']} after {minutes} min of two-thread training (table 2) |",
         "benchmarks/README.md", src)
    says(README, f"the recipe's U-Net is {ratio}x from the FID floor at n = {ddim['n']} after {minutes} minutes of "
                 f"two-thread training", "README.md", src)
    a, ddpm = ddim["at_n_ddpm"], unet["samplers"]["ddpm1000"]
    says(BENCH_README, f"| DDIM 50 FID within 2x of DDPM 1000 | {'met' if a['fid'] <= 2 * ddpm['fid'] else 'not met'}: "
                       f"FID {printed(a['fid'], 2)} against {printed(ddpm['fid'], 2)} at n = {ddpm['n']} "
                       f"({printed(a['fid'] / ddpm['fid'], 2)}x) |", "benchmarks/README.md", src)

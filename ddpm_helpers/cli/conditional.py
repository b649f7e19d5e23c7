"""The class-conditional FashionMNIST U-Net of notebook 07: train it, and measure guidance's trade-off.

Fine-tune the shipped unconditional U-Net into a class-conditional one (label embedding added to the
time embedding, starting at zero; labels dropped to the null label with p = 0.1), writing
``fashion_cond_unet.pt`` and its card ``fashion_cond_unet.md``::

    python -m ddpm_helpers.cli.conditional train --minutes 45 --threads 1

``--from-scratch`` trains the same network from random weights instead (the full budget of the
unconditional model, about 75 minutes on a 2-core CPU, is then the fair comparison). The recipe is
``core.guidance.CONDITIONAL_RECIPE`` (notebook 07's full mode runs the same ``train_conditional``).

Measure guidance's trade-off on the shipped weights (``core.tradeoff.measure_tradeoff``: per scale s, each
class's KID against that class's test images, the classifier's accuracy on the samples with its interval,
the real-data floor), writing ``fashion_cond_unet.tradeoff.json`` and the card's "## Metrics" section::

    OMP_WAIT_POLICY=PASSIVE python -m ddpm_helpers.cli.conditional evaluate --threads 2
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import torch

from ..core.checkpoints import PRETRAINED, load_checkpoint, load_pretrained, save_checkpoint
from ..core.data import FASHION_CLASSES, load_fashion_mnist
from ..core.guidance import CONDITIONAL_RECIPE, train_conditional
from ..core.models import UNet, count_parameters
from ..core.paths import WEIGHTS_DIR
from ..core.runtime import configure_threads, cpu_has_amx, hardware_summary, pick_device
from ..core.tradeoff import TRADEOFF_SCALES, measure_tradeoff
from ..ui.tables import markdown_table
from .pretrained import METRICS_HEADER

__all__ = ["tradeoff_markdown", "tradeoff_card_section", "write_tradeoff_card", "main"]

NAME = "fashion_cond_unet"


def _train(args) -> None:
    configure_threads(args.threads)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    x, y = load_fashion_mnist("train")
    base, sched, base_meta = load_pretrained("fashion_unet")
    if args.from_scratch:
        model = UNet(**dict(vars(base.config), num_classes=len(FASHION_CLASSES)))
        start = "random weights"
    else:
        model = base
        start = f"the shipped fashion_unet ({base_meta['steps']} steps, {base_meta['train_seconds'] / 60:.0f} min)"
    result = train_conditional(model, x, y, sched, len(FASHION_CLASSES), lr=args.lr, warmup=args.warmup,
                               steps=args.steps, time_limit=args.minutes * 60, device=str(device), seed=args.seed,
                               log_every=100, label_dropout=args.label_dropout)
    config = result.config
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": out.stem, "command": "python -m ddpm_helpers.cli.conditional " + " ".join(sys.argv[1:]),
        "initialised from": start,
        "hardware": hardware_summary(device), "device": str(device), "torch": str(torch.__version__),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (libgomp's default)"),
        "amx": cpu_has_amx() if device.type == "cpu" else None, "precision": result.precision,
        "date": datetime.date.today().isoformat(), "steps": result.steps_done,
        "epochs": round(result.steps_done * config.batch_size / x.shape[0], 2),
        "train_seconds": round(result.seconds, 1), "minutes": round(result.seconds / 60, 1),
        "batch_size": config.batch_size, "lr": config.lr,
        "warmup": config.warmup, "min_snr_gamma": config.min_snr_gamma, "ema_decay": config.ema_decay,
        "label_dropout": config.label_dropout, "final_loss": float(result.losses[-200:].mean()),
        "interrupted": result.interrupted, "parameters": count_parameters(result.ema),
    }
    save_checkpoint(out, result.ema, sched, meta)
    card = out.with_suffix(".md")
    card.write_text(f"# {out.stem}\n\n{PRETRAINED.get(out.stem, 'class-conditional DDPM U-Net')}\n\n## Training\n\n"
                    + "\n".join(f"- **{k}**: {v}" for k, v in meta.items())
                    + f"\n- **config**: {result.ema.config}\n- **schedule**: linear, T=1000, beta 1e-4 .. 0.02\n")
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) after {result.steps_done} steps "
          f"({result.seconds / 60:.1f} min); card {card}")


def _pct(r: dict) -> str:
    return f"{100 * r['accuracy']:.1f} % ({100 * r['acc_lo']:.1f}–{100 * r['acc_hi']:.1f})"


def tradeoff_markdown(m: dict) -> str:
    """The trade-off table (one row per scale, then the floor) and the recommended scale with its rule, from the
    ``fashion_cond_unet.tradeoff.json`` dict: the card's and benchmarks/README.md's copy are both this text."""
    fl = m["floor"]
    rows = [[f"{r['scale']:g}", _pct(r), f"{1e3 * r['kid_mean']:.1f} ± {1e3 * r['kid_mean_std']:.1f}",
             f"{r['fid']:.2f} ± {r['fid_std']:.2f}", f"{r['seconds']:.0f}"] for r in m["rows"]]
    rows.append([f"floor: real training images ({fl['draws']} draws)",
                 f"{100 * fl['accuracy']:.1f} % ± {100 * fl['accuracy_std']:.1f}",
                 f"{1e3 * fl['kid_mean']:.1f} ± {1e3 * fl['kid_mean_std']:.1f}",
                 f"{fl['fid']:.2f} ± {fl['fid_std']:.2f}", ""])
    table = markdown_table(["s", "accuracy (95 % interval)", "mean per-class KID (x 1e3)",
                            f"pooled FID (n = {m['rows'][0]['n']})", "seconds"], rows)
    rec = m["recommended"]
    return (f"{table}\n\nRecommended scale: **s = {rec['scale']:g}**, {rec['rule']}. "
            f"Scales within that KID band: {', '.join(f'{s:g}' for s in rec['kid_ok'])}.")


def tradeoff_card_section(m: dict) -> str:
    """The "## Metrics" section of the conditional U-Net's card: how it was measured, the table of
    :func:`tradeoff_markdown`, and the per-class KID and accuracy across scales."""
    n, fl, first = m["n_per_class"], m["floor"], m["rows"][0]
    head = ["class", f"floor (n = {n})", *(f"s = {r['scale']:g}" for r in m["rows"])]
    kid_rows = [[pc["name"], f"{1e3 * pc['kid']:.0f} ± {1e3 * pc['kid_std']:.0f}",
                 *(f"{1e3 * r['per_class'][i]['kid']:.0f} ± {1e3 * r['per_class'][i]['kid_std']:.0f}"
                   for r in m["rows"])] for i, pc in enumerate(fl["per_class"])]
    acc_rows = [[pc["name"], *(f"{100 * r['per_class'][i]['correct'] / r['per_class'][i]['n']:.0f} %"
                               for r in m["rows"])] for i, pc in enumerate(fl["per_class"])]
    return "\n".join([
        METRICS_HEADER, "",
        f"Guidance's trade-off, measured by `{m['command']}` on {m['hardware']} (OMP_WAIT_POLICY="
        f"{m['omp_wait_policy']}), {m['date']}; {m['total_seconds'] / 60:.1f} min in all, the "
        f"machine shared with other work (seconds: each scale's sampling wall time).",
        f"Samples: DDIM, {m['steps']} steps (trailing spacing), eta 0, x0 clipped to [-1, 1]; n = {n} per class "
        f"({first['n']} per scale), every scale from the same x_T (seed {m['seed']}). Fidelity: each class's KID "
        f"against that class's FashionMNIST test images in the shipped `fashion_classifier`'s 128-D feature "
        f"space, averaged over the 10 classes, ± its spread over {m['n_boot']} bootstrap resamples of the samples "
        f"(the classes' spreads combined). Pooled FID: all {first['n']} samples against all {m['n_reference']} "
        f"test images (per-class FID is not reported: at n = {n} < 128 features the samples' covariance is "
        f"singular and FID is mostly small-n bias). Accuracy: the share of the samples the classifier puts in "
        f"their own class, with its 95 % Wilson interval. Floor: n = {n} real *training* images per class, "
        f"measured the same way, ± the spread over {fl['draws']} independent draws.", "",
        tradeoff_markdown(m), "", "Per-class KID (x 1e3) across s, ± bootstrap spread (floor: ± spread over draws):",
        "", markdown_table(head, kid_rows), "", "Per-class accuracy (share classified as the class) across s:", "",
        markdown_table(["class", *head[2:]], acc_rows), ""])


def write_tradeoff_card(card: Path, m: dict) -> None:
    """Replace (or append) the card's "## Metrics" section with :func:`tradeoff_card_section`."""
    text = card.read_text() if card.is_file() else f"# {card.stem}\n"
    card.write_text(text.split(METRICS_HEADER)[0].rstrip() + "\n\n" + tradeoff_card_section(m))


def _evaluate(args) -> None:
    configure_threads(args.threads or None)  # --threads, else $DDPM_THREADS, else core.cpus' choice
    start = time.perf_counter()
    model, sched, meta = load_checkpoint(args.weights)
    m = {"command": "python -m ddpm_helpers.cli.conditional " + " ".join(sys.argv[1:]),
         "hardware": hardware_summary(torch.device("cpu")), "threads": torch.get_num_threads(),
         "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
         "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
         "weights_steps": meta.get("steps"), "n_boot": args.n_boot}
    m.update(measure_tradeoff(model, sched, args.scales, n_per_class=args.n_per_class, steps=args.steps,
                              seed=args.seed, n_boot=args.n_boot, floor_draws=args.floor_draws,
                              report=lambda line: print(line, flush=True)))
    m["total_seconds"] = round(time.perf_counter() - start, 1)
    out = Path(args.out)
    out.write_text(json.dumps(m, indent=1) + "\n")
    write_tradeoff_card(Path(args.card), m)
    print(tradeoff_markdown(m))
    print(f"wrote {out} and the metrics section of {args.card} ({m['total_seconds'] / 60:.1f} min)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ddpm_helpers.cli.conditional", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the class-conditional U-Net")
    t.add_argument("--minutes", type=float, default=45.0, help="training-time budget")
    t.add_argument("--steps", type=int, default=1_000_000, help="upper bound on optimizer steps")
    t.add_argument("--lr", type=float, default=CONDITIONAL_RECIPE["lr"])
    t.add_argument("--warmup", type=int, default=CONDITIONAL_RECIPE["warmup"])
    t.add_argument("--label-dropout", type=float, default=CONDITIONAL_RECIPE["label_dropout"])
    t.add_argument("--from-scratch", action="store_true", help="random weights instead of the shipped fashion_unet")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--out", default=str(WEIGHTS_DIR / f"{NAME}.pt"))
    e = sub.add_parser("evaluate", help="measure guidance's trade-off on the shipped weights, write "
                                        f"{NAME}.tradeoff.json and the card's metrics section")
    e.add_argument("--scales", type=float, nargs="+", default=list(TRADEOFF_SCALES), help="guidance scales s")
    e.add_argument("--n-per-class", type=int, default=100, help="samples per class at each scale")
    e.add_argument("--steps", type=int, default=20, help="DDIM steps (eta 0, trailing spacing, x0 clipped)")
    e.add_argument("--n-boot", type=int, default=50, help="bootstrap resamples for each KID's spread")
    e.add_argument("--floor-draws", type=int, default=5, help="independent draws of real images for the floor")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--threads", type=int, default=0, help="torch threads (0: $DDPM_THREADS, else core.cpus' choice)")
    e.add_argument("--weights", default=str(WEIGHTS_DIR / f"{NAME}.pt"), help="the checkpoint to measure")
    e.add_argument("--out", default=str(WEIGHTS_DIR / f"{NAME}.tradeoff.json"))
    e.add_argument("--card", default=str(WEIGHTS_DIR / f"{NAME}.md"), help="the model card to write the metrics into")
    args = p.parse_args(argv)
    if args.cmd == "train":
        _train(args)
    elif args.cmd == "evaluate":
        _evaluate(args)
    else:
        raise ValueError(f"unknown command {args.cmd!r}")


if __name__ == "__main__":
    main()

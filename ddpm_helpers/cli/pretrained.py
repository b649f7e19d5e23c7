"""The commands that train and measure the shipped weights (loading them: ``core.checkpoints.load_pretrained``).

Each ``NAME.pt`` in ``ddpm_helpers/weights/`` has a model card ``NAME.md`` beside it that records
the exact command, config, hardware, training time and metrics; these commands write both.

Train the shipped U-Net again (writes ``fashion_unet.pt`` and the training part of its card)::

    python -m ddpm_helpers.cli.pretrained train-unet --minutes 90 --threads 2

Train the feature classifier (CPU, a few minutes), and measure the shipped U-Net (FID, KID, the
real-against-real floors and class histograms; writes ``fashion_unet.metrics.json`` and the
card's "## Metrics" section from it; with the defaults, n = 2048 DDIM-50 samples and n = 128
DDPM-1000 samples, each FID with its bootstrap spread and the floor over 5 draws of real images;
it takes the time stated in the card, about 15 minutes on the 2-core CPU)::

    python -m ddpm_helpers.cli.pretrained train-classifier
    python -m ddpm_helpers.cli.pretrained evaluate-unet

Draw the README's pictures from the shipped U-Net::

    python -m ddpm_helpers.cli.pretrained readme-figures
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

from ..core.checkpoints import PRETRAINED, load_checkpoint, load_pretrained, save_checkpoint
from ..core.classifier import (
    ClassifierConfig,
    FashionClassifier,
    calibrate_feature_scale,
    classifier_accuracy,
    train_classifier,
)
from ..core.data import FASHION_CLASSES, load_fashion_mnist
from ..core.metrics import class_histogram, image_quality, image_quality_ci, real_floor, real_floor_spread
from ..core.models import UNet, UNetConfig, count_parameters
from ..core.paths import WEIGHTS_DIR
from ..core.quality import draw_samples, quality_curve
from ..core.runtime import configure_threads, cpu_has_amx, hardware_summary, pick_device, resolve_amp
from ..core.sampling import ddim_sample, ddim_timesteps, start_noise
from ..core.schedules import NoiseSchedule
from ..core.training import UNET_RECIPE, TrainConfig, train
from ..lessons.unet.anatomy import filmstrip_frames
from ..lessons.unet.figures import plot_filmstrip, plot_sample_grid
from ..ui.tables import markdown_table

__all__ = ["add_recipe_arguments", "recipe_from_args", "regenerate_check", "metrics_markdown", "write_metrics_card",
           "SAMPLERS", "main"]


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """The training recipe's levers as flags, with ``UNET_RECIPE``'s values as defaults (``train-unet`` and
    ``benchmarks/time_to_quality.py``); :func:`recipe_from_args` turns them back into ``TrainConfig`` fields."""
    r = UNET_RECIPE
    parser.add_argument("--amp", default=r["amp"], choices=["auto", "bf16", "fp16", "off"],
                        help="mixed precision (auto: bf16 on CUDA and on CPUs with AMX)")
    parser.add_argument("--lr", type=float, default=r["lr"])
    parser.add_argument("--warmup", type=int, default=r["warmup"], help="linear lr warm-up steps")
    parser.add_argument("--lr-decay", default=r["lr_decay"], choices=["none", "cosine"])
    parser.add_argument("--batch-size", type=int, default=r["batch_size"])
    parser.add_argument("--ema-decay", type=float, default=r["ema_decay"])
    parser.add_argument("--no-ema-warmup", action="store_true", help="a fixed EMA decay from the first update on")
    parser.add_argument("--min-snr-gamma", type=float, default=r["min_snr_gamma"])


def recipe_from_args(args: argparse.Namespace) -> dict:
    """``UNET_RECIPE`` with the values of :func:`add_recipe_arguments`' flags."""
    return {**UNET_RECIPE, "amp": args.amp, "lr": args.lr, "warmup": args.warmup, "lr_decay": args.lr_decay,
            "batch_size": args.batch_size, "ema_decay": args.ema_decay, "ema_warmup": not args.no_ema_warmup,
            "min_snr_gamma": args.min_snr_gamma}


def _train_unet(args) -> None:
    configure_threads(args.threads)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    x, _ = load_fashion_mnist("train")
    sched = NoiseSchedule.linear(1000)
    model, prev = UNet(UNetConfig(base_channels=args.base_channels)), {}
    if args.init:  # continue from earlier weights (a fresh optimizer, with its warm-up)
        model, _, prev = load_checkpoint(args.init)
    config = TrainConfig(**recipe_from_args(args), steps=args.steps, time_limit=args.minutes * 60, device=str(device),
                         seed=args.seed, log_every=100, compile=args.compile)
    curve = quality_curve(sched, args.curve_every, precision=resolve_amp("auto", device)) if args.curve_every else None
    result = train(model, x, sched, config, callback=curve)
    steps = prev.get("steps", 0) + result.steps_done
    epochs = steps * config.batch_size / x.shape[0]
    command = "python -m ddpm_helpers.cli.pretrained " + " ".join(sys.argv[1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": out.stem, "command": f"{prev['command']}; then {command}" if prev else command,
        "hardware": hardware_summary(device), "device": str(device), "torch": str(torch.__version__),
        "amx": cpu_has_amx() if device.type == "cpu" else None, "precision": result.precision,
        "date": datetime.date.today().isoformat(), "steps": steps, "epochs": round(epochs, 2),
        "train_seconds": round(prev.get("train_seconds", 0) + result.seconds, 1), "batch_size": config.batch_size,
        "lr": config.lr, "warmup": config.warmup, "lr_decay": config.lr_decay, "min_snr_gamma": config.min_snr_gamma,
        "ema_decay": config.ema_decay, "ema_warmup": config.ema_warmup,
        "final_loss": float(result.losses[-200:].mean()), "interrupted": result.interrupted,
        "parameters": count_parameters(model),
    }
    save_checkpoint(out, result.ema, sched, {**meta, "curve": curve.points if curve else []})
    card = out.with_suffix(".md")
    text = (f"# {out.stem}\n\n{PRETRAINED.get(out.stem, 'DDPM U-Net')}\n\n## Training\n\n"
            + "\n".join(f"- **{k}**: {v}" for k, v in meta.items())
            + f"\n- **config**: {model.config}\n- **schedule**: linear, T=1000, beta 1e-4 .. 0.02\n")
    if curve and curve.points:
        p0 = curve.points[0]
        text += ("\nQuality during training (the EMA weights every "
                 f"{args.curve_every:g} min of training; n = {p0['n']} DDIM-{p0['sampler_steps']} samples with x0 "
                 f"clipping, the model in {p0['precision']}; evaluation time not counted; the floor at this n, "
                 f"{p0['n']} training images: FID {real_floor(p0['n'])['fid']:.2f}):\n\n"
                 + markdown_table(["step", "minutes", "FID", "KID (x 1e3)"],
                                  [[p["step"], f"{p['minutes']:.1f}", f"{p['fid']:.2f}", f"{1e3 * p['kid']:.1f}"]
                                   for p in curve.points]) + "\n")
    card.write_text(text)
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) after {steps} steps in all "
          f"({epochs:.1f} epochs; this run {result.steps_done} steps, {result.seconds / 60:.1f} min); card {card}")


def _train_classifier(args) -> None:
    torch.manual_seed(args.seed)
    x, y = load_fashion_mnist("train")
    x_test, y_test = load_fashion_mnist("test")
    model = FashionClassifier(ClassifierConfig())
    hist = train_classifier(model, x, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed)
    acc = classifier_accuracy(model, x_test, y_test)
    scale = calibrate_feature_scale(model, x)  # features / RMS over the training set: O(1) for FID/KID
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": out.stem, "command": "python -m ddpm_helpers.cli.pretrained " + " ".join(sys.argv[1:]),
        "hardware": hardware_summary(torch.device("cpu")), "device": "cpu", "torch": str(torch.__version__),
        "date": datetime.date.today().isoformat(), "epochs": args.epochs, "steps": hist["steps"],
        "batch_size": args.batch_size, "lr": args.lr, "optimizer": "AdamW, one-cycle lr, weight decay 1e-4",
        "augmentation": "random horizontal flips", "train_seconds": round(hist["seconds"], 1),
        "final_loss": round(sum(hist["losses"][-100:]) / 100, 4), "test_accuracy": round(acc, 4),
        "parameters": count_parameters(model), "seed": args.seed, "feature_scale": scale,
    }
    save_checkpoint(out, model, None, meta)
    card = out.with_suffix(".md")
    card.write_text(
        f"# {out.stem}\n\n{PRETRAINED.get(out.stem, 'FashionMNIST classifier')}.\n\n"
        "Used by `ddpm_helpers.core.metrics` (FID, KID, class histograms). Its numbers are comparable only with\n"
        "numbers measured with these same weights, never with published (Inception-based) FIDs.\n\n"
        "## Training\n\n" + "\n".join(f"- **{k}**: {v}" for k, v in meta.items())
        + f"\n- **config**: {model.config}\n- **data**: FashionMNIST train split (60000 images in [-1, 1])\n"
        f"\n## Metrics\n\n- **test accuracy** (all 10000 FashionMNIST test images): {acc:.4f}\n"
    )
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB): test accuracy {acc:.4f} after {args.epochs} epochs "
          f"({hist['seconds'] / 60:.1f} min); card {card}")


METRICS_HEADER = "## Metrics"


def _sample_timed(model, sched, n, sampler, seed, batch_size=250):
    """Draw ``n`` samples with one of :data:`SAMPLERS`; return (samples, seconds)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    t0 = time.perf_counter()
    kind, steps = ("ddpm", sched.T) if sampler == "ddpm1000" else ("ddim", int(sampler[4:]))
    x = draw_samples(model, sched, n, kind, steps, seed=seed, batch_size=batch_size)
    return x, time.perf_counter() - t0


SAMPLERS = {"ddim50": "DDIM, 50 steps (trailing spacing), eta = 0",
            "ddim20": "DDIM, 20 steps (trailing spacing), eta = 0",
            "ddpm1000": "DDPM (Algorithm 2), 1000 steps, posterior variance"}


def regenerate_check(model, sched, check: dict) -> dict:
    """Re-measure the card's small "check" entry (same sampler, n and seed) from the given weights."""
    x, _ = _sample_timed(model, sched, check["n"], check["sampler"], check["seed"])
    q = image_quality(x)
    return {**q, "class_histogram": class_histogram(x).tolist()}


def _kid_cell(r: dict) -> str:
    """KID x 1e3 and its spread, as the card's table prints them."""
    return f"{1e3 * r['kid']:.2f} +- {1e3 * r['kid_std']:.2f}"


def _fid_cell(r: dict) -> str:
    """FID, and its spread where the card measured one (bootstrap for samples, draws for floors)."""
    return f"{r['fid']:.2f}" + (f" +- {r['fid_std']:.2f}" if "fid_std" in r else "")


def metrics_markdown(m: dict) -> str:
    """The "## Metrics" section of a U-Net card, written from the JSON sidecar's dict."""
    rows = []
    for key, r in m["samplers"].items():
        fl = m["floors"][str(r["n"])]
        rows.append([SAMPLERS[key], r["n"], _fid_cell(r), _fid_cell(fl), f"{r['fid'] / fl['fid']:.1f}x",
                     _kid_cell(r), _kid_cell(fl), f"{r['seconds']:.0f}"])
        if "at_n_ddpm" in r:  # the same samples cut to DDPM's n, so the two rows compare like for like
            a, fl = r["at_n_ddpm"], m["floors"][str(r["at_n_ddpm"]["n"])]
            rows.append([f"{SAMPLERS[key]}, first {a['n']}", a["n"], _fid_cell(a), _fid_cell(fl),
                         f"{a['fid'] / fl['fid']:.1f}x", _kid_cell(a), _kid_cell(fl), ""])
    quality = markdown_table(["sampler", "n", "FID", "floor FID", "FID / floor", "KID (x 1e3)", "floor KID (x 1e3)",
                              "seconds"], rows)
    histograms = markdown_table(["sampler", *FASHION_CLASSES],
                                [[f"{key} (n={r['n']})", *r["class_histogram"]] for key, r in m["samplers"].items()])
    lines = [METRICS_HEADER, "",
             f"Measured by `{m['command']}` on {m['hardware']} ({m['date']}).",
             f"FID and KID in the feature space of the shipped `fashion_classifier` (128-D), against all "
             f"{m['n_reference']} FashionMNIST test images; the floor is n random *training* images measured "
             f"the same way. Compare only at equal n and with the same classifier (not with Inception FIDs).",
             "Spreads (+-): a sample row's FID and KID over bootstrap resamples of its images; a floor's over "
             "independent draws of n training images (FID) and KID's over those draws too. Seconds: the sampling "
             "wall time of that row on the hardware above.", "",
             quality, "", "Class histogram of the samples (classifier's most likely class):", "", histograms]
    c = m["check"]
    if "total_seconds" in m:
        lines += ["", f"The whole evaluation took {m['total_seconds'] / 60:.1f} min."]
    lines += ["", f"Regeneration check (tests/test_pretrained.py re-measures it in quick mode): "
              f"{SAMPLERS[c['sampler']]}, n = {c['n']}, seed {c['seed']}: FID {c['fid']:.2f}, "
              f"KID {1e3 * c['kid']:.2f} x 1e-3, histogram {c['class_histogram']}.", ""]
    return "\n".join(lines)


def write_metrics_card(card: Path, m: dict) -> None:
    """Replace (or append) the card's "## Metrics" section with :func:`metrics_markdown`."""
    text = card.read_text() if card.is_file() else f"# {card.stem}\n"
    head = text.split(METRICS_HEADER)[0].rstrip() + "\n\n"
    card.write_text(head + metrics_markdown(m))


def _evaluate_unet(args) -> None:
    configure_threads(args.threads or None)  # --threads, else DDPM_THREADS, else the CPUs this process may use
    start = time.perf_counter()
    model, sched, meta = load_pretrained(args.name)
    m = {"command": "python -m ddpm_helpers.cli.pretrained " + " ".join(sys.argv[1:]),
         "hardware": hardware_summary(torch.device("cpu")), "threads": torch.get_num_threads(),
         "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
         "weights_steps": meta.get("steps"), "seed": args.seed, "samplers": {}, "floors": {}}
    for key, n in (("ddim50", args.n_ddim), ("ddpm1000", args.n_ddpm)):
        if n <= 0:
            continue
        x, secs = _sample_timed(model, sched, n, key, args.seed)
        q = image_quality_ci(x, n_boot=args.n_boot)
        m["samplers"][key] = {**q, "seconds": round(secs, 1), "class_histogram": class_histogram(x).tolist()}
        if key == "ddim50" and 2 <= args.n_ddpm < n:  # the same n as DDPM, for a like-for-like comparison
            m["samplers"][key]["at_n_ddpm"] = image_quality_ci(x[:args.n_ddpm], n_boot=args.n_boot)
        for size in {n, m["samplers"][key].get("at_n_ddpm", {"n": n})["n"]}:
            if str(size) not in m["floors"]:
                m["floors"][str(size)] = real_floor_spread(size, seeds=args.floor_draws)
        print(f"{key}: n={n} FID {q['fid']:.2f} KID {q['kid']:.4f} ({secs:.0f} s); floor FID "
              f"{m['floors'][str(n)]['fid']:.2f}", flush=True)
    m["n_reference"] = next(iter(m["samplers"].values()))["n_reference"]
    check = {"sampler": "ddim20", "n": args.check_n, "seed": args.seed + 1}
    m["check"] = {**check, **regenerate_check(model, sched, check)}
    m["total_seconds"] = round(time.perf_counter() - start, 1)
    sidecar = WEIGHTS_DIR / f"{args.name}.metrics.json"
    sidecar.write_text(json.dumps(m, indent=1) + "\n")
    write_metrics_card(WEIGHTS_DIR / f"{args.name}.md", m)
    print(f"wrote {sidecar} and the metrics section of {WEIGHTS_DIR / (args.name + '.md')}")


def _readme_figures(args) -> None:
    """The README's pictures, drawn by the series' own code from the shipped U-Net."""
    configure_threads(args.threads)
    model, sched, meta = load_pretrained("fashion_unet")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)
    x = ddim_sample(model, sched, start_noise(model, 64, gen), steps=50).x0
    fig = plot_sample_grid(x, nrow=8, title=f"64 samples (DDIM, 50 steps) from the shipped U-Net "
                                             f"({meta.get('epochs')} epochs on a CPU)")
    fig.savefig(out / "samples.png", dpi=args.dpi)
    traj = ddim_sample(model, sched, start_noise(model, 1, gen), steps=50, return_trajectory=True).trajectory
    frames, x0_hats, labels = filmstrip_frames(model, sched, traj, ddim_timesteps(sched.T, 50), frames=8)
    fig = plot_filmstrip(frames, labels, x0_hats, title="One sample denoised (DDIM, 50 steps): "
                                                        "x_t (top) and the model's x0-prediction (bottom)")
    fig.savefig(out / "filmstrip.png", dpi=args.dpi)
    print(f"wrote {out / 'samples.png'} and {out / 'filmstrip.png'}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ddpm_helpers.cli.pretrained", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("train-unet", help="train the FashionMNIST U-Net")
    u.add_argument("--minutes", type=float, default=90.0,
                   help="training-time budget (with --lr-decay cosine the lr reaches 0 then)")
    u.add_argument("--steps", type=int, default=1_000_000, help="upper bound on optimizer steps")
    add_recipe_arguments(u)
    u.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: $DDPM_THREADS, else the CPUs this process may use)")
    u.add_argument("--curve-every", type=float, default=10.0,
                   help="minutes of training between quality measurements for the card (0: none)")
    u.add_argument("--base-channels", type=int, default=32)
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--device", default=None)
    u.add_argument("--compile", action="store_true")
    u.add_argument("--init", default=None, help="continue training from this checkpoint's weights")
    u.add_argument("--out", default=str(WEIGHTS_DIR / "fashion_unet.pt"))
    c = sub.add_parser("train-classifier", help="train the FashionMNIST feature classifier (CPU, a few minutes)")
    c.add_argument("--epochs", type=int, default=3)
    c.add_argument("--batch-size", type=int, default=128)
    c.add_argument("--lr", type=float, default=2e-3)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default=str(WEIGHTS_DIR / "fashion_classifier.pt"))
    e = sub.add_parser("evaluate-unet", help="sample the shipped U-Net, measure FID/KID/floors/histograms, "
                                              "write NAME.metrics.json and the card's metrics section")
    e.add_argument("--n-ddim", type=int, default=2048, help="samples drawn with DDIM, 50 steps, eta 0")
    e.add_argument("--n-ddpm", type=int, default=128, help="samples drawn with DDPM, 1000 steps")
    e.add_argument("--n-boot", type=int, default=50, help="bootstrap resamples for the samples' FID/KID spread")
    e.add_argument("--floor-draws", type=int, default=5, help="independent draws of real images for the floor")
    e.add_argument("--check-n", type=int, default=32, help="samples of the small regeneration check (DDIM 20)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--threads", type=int, default=0,
                   help="torch threads (0: $DDPM_THREADS, else the CPUs this process may use)")
    e.add_argument("--name", default="fashion_unet")
    f = sub.add_parser("readme-figures", help="draw the README's pictures from the shipped U-Net")
    f.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "docs"))
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--dpi", type=int, default=100)
    f.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.cmd == "train-unet":
        _train_unet(args)
    elif args.cmd == "train-classifier":
        _train_classifier(args)
    elif args.cmd == "evaluate-unet":
        _evaluate_unet(args)
    elif args.cmd == "readme-figures":
        _readme_figures(args)
    else:
        raise ValueError(f"unknown command {args.cmd!r}")


if __name__ == "__main__":
    main()

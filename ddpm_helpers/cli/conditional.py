"""The class-conditional FashionMNIST U-Net of notebook 07: train it, and measure guidance's trade-off.

Fine-tune the shipped unconditional U-Net into a class-conditional one (label embedding added to the
time embedding, starting at zero; labels dropped to the null label with p = 0.1), writing
``fashion_cond_unet.pt`` and its card ``fashion_cond_unet.md``::

    python -m ddpm_helpers.cli.conditional train --minutes 45 --threads 1

``--from-scratch`` trains the same network from random weights instead (the full budget of the
unconditional model, about 75 minutes on a 2-core CPU, is then the fair comparison).
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import torch

from ..core.checkpoints import PRETRAINED, WEIGHTS_DIR, load_pretrained, save_checkpoint
from ..core.data import FASHION_CLASSES, load_fashion_mnist
from ..core.guidance import conditional_from_unconditional
from ..core.models import UNet, count_parameters
from ..core.runtime import configure_threads, cpu_has_amx, pick_device
from ..core.training import UNET_RECIPE, TrainConfig, train
from .pretrained import hardware_summary

__all__ = ["main"]

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
        model = conditional_from_unconditional(base)
        start = f"the shipped fashion_unet ({base_meta['steps']} steps, {base_meta['train_seconds'] / 60:.0f} min)"
    config = TrainConfig(**{**UNET_RECIPE, "lr": args.lr, "warmup": args.warmup}, steps=args.steps,
                         time_limit=args.minutes * 60, device=str(device), seed=args.seed, log_every=100,
                         label_dropout=args.label_dropout)
    result = train(model, x, sched, config, labels=y)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": out.stem, "command": "python -m ddpm_helpers.cli.conditional " + " ".join(sys.argv[1:]),
        "initialised from": start,
        "hardware": hardware_summary(device), "device": str(device), "torch": str(torch.__version__),
        "amx": cpu_has_amx() if device.type == "cpu" else None, "precision": result.precision,
        "date": datetime.date.today().isoformat(), "steps": result.steps_done,
        "epochs": round(result.steps_done * config.batch_size / x.shape[0], 2),
        "train_seconds": round(result.seconds, 1), "batch_size": config.batch_size, "lr": config.lr,
        "warmup": config.warmup, "min_snr_gamma": config.min_snr_gamma, "ema_decay": config.ema_decay,
        "label_dropout": config.label_dropout, "final_loss": float(result.losses[-200:].mean()),
        "interrupted": result.interrupted, "parameters": count_parameters(model),
    }
    save_checkpoint(out, result.ema, sched, meta)
    card = out.with_suffix(".md")
    card.write_text(f"# {out.stem}\n\n{PRETRAINED.get(out.stem, 'class-conditional DDPM U-Net')}\n\n## Training\n\n"
                    + "\n".join(f"- **{k}**: {v}" for k, v in meta.items())
                    + f"\n- **config**: {model.config}\n- **schedule**: linear, T=1000, beta 1e-4 .. 0.02\n")
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) after {result.steps_done} steps "
          f"({result.seconds / 60:.1f} min); card {card}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ddpm_helpers.cli.conditional", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the class-conditional U-Net")
    t.add_argument("--minutes", type=float, default=45.0, help="training-time budget")
    t.add_argument("--steps", type=int, default=1_000_000, help="upper bound on optimizer steps")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument("--label-dropout", type=float, default=0.1)
    t.add_argument("--from-scratch", action="store_true", help="random weights instead of the shipped fashion_unet")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--out", default=str(WEIGHTS_DIR / f"{NAME}.pt"))
    args = p.parse_args(argv)
    if args.cmd == "train":
        _train(args)


if __name__ == "__main__":
    main()

"""Shipped weights, and the commands that train them.

``load_pretrained(name)`` loads a checkpoint shipped in ``ddpm_helpers/weights/`` (offline; no
download). Each ``NAME.pt`` has a model card ``NAME.md`` beside it that records the exact command,
config, hardware, training time and metrics.

Train the shipped U-Net again (writes ``fashion_unet.pt`` and the training part of its card)::

    python -m ddpm_helpers.pretrained train-unet --minutes 75
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path

import torch

from .data import load_fashion_mnist
from .models import UNet, UNetConfig, count_parameters
from .runtime import pick_device
from .schedules import NoiseSchedule
from .training import TrainConfig, load_checkpoint, save_checkpoint, train

__all__ = ["WEIGHTS_DIR", "PRETRAINED", "load_pretrained", "hardware_summary"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PRETRAINED = {
    "fashion_unet": "DDPM U-Net on FashionMNIST (linear schedule, T=1000, epsilon prediction, EMA weights)",
}


def load_pretrained(name: str, device="cpu"):
    """Load shipped weights by name. Returns ``(model, sched, meta)`` as :func:`load_checkpoint` does."""
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {sorted(PRETRAINED)}, got {name!r}")
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"shipped weights {path} are missing; reinstall ddpm_helpers or retrain them "
                                f"(see {WEIGHTS_DIR / (name + '.md')})")
    return load_checkpoint(path, device=device)


def hardware_summary(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads"


def _train_unet(args) -> None:
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    x, _ = load_fashion_mnist("train")
    sched = NoiseSchedule.linear(1000)
    model = UNet(UNetConfig(base_channels=args.base_channels))
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=200,
                         ema_decay=args.ema_decay, time_limit=args.minutes * 60, device=str(device),
                         seed=args.seed, log_every=100, compile=args.compile)
    result = train(model, x, sched, config)
    epochs = result.steps_done * config.batch_size / x.shape[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": out.stem, "command": "python -m ddpm_helpers.pretrained " + " ".join(sys.argv[1:]),
        "hardware": hardware_summary(device), "device": str(device), "torch": torch.__version__,
        "date": datetime.date.today().isoformat(), "steps": result.steps_done, "epochs": round(epochs, 2),
        "train_seconds": round(result.seconds, 1), "batch_size": config.batch_size, "lr": config.lr,
        "ema_decay": config.ema_decay, "final_loss": float(result.losses[-200:].mean()),
        "interrupted": result.interrupted, "parameters": count_parameters(model),
    }
    save_checkpoint(out, result.ema, sched, meta)
    card = out.with_suffix(".md")
    card.write_text(
        f"# {out.stem}\n\n{PRETRAINED.get(out.stem, 'DDPM U-Net')}\n\n## Training\n\n"
        + "\n".join(f"- **{k}**: {v}" for k, v in meta.items())
        + f"\n- **config**: {model.config}\n- **schedule**: linear, T=1000, beta 1e-4 .. 0.02\n"
    )
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) after {result.steps_done} steps "
          f"({epochs:.1f} epochs, {result.seconds / 60:.1f} min); card {card}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m ddpm_helpers.pretrained", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("train-unet", help="train the FashionMNIST U-Net")
    u.add_argument("--minutes", type=float, default=75.0, help="wall-clock budget")
    u.add_argument("--steps", type=int, default=100_000, help="upper bound on optimizer steps")
    u.add_argument("--batch-size", type=int, default=128)
    u.add_argument("--lr", type=float, default=5e-4)
    u.add_argument("--ema-decay", type=float, default=0.999)
    u.add_argument("--base-channels", type=int, default=32)
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--device", default=None)
    u.add_argument("--compile", action="store_true")
    u.add_argument("--out", default=str(WEIGHTS_DIR / "fashion_unet.pt"))
    args = p.parse_args(argv)
    if args.cmd == "train-unet":
        _train_unet(args)


if __name__ == "__main__":
    main()

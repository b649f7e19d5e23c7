"""Checkpoints: the file format, the registry of model kinds, and the shipped weights.

* The registry (:func:`model_kind`, :func:`build_model`, :func:`config_dict`) names every model
  of the series ("mlp", "unet", "classifier") so that a checkpoint can rebuild it from
  ``(kind, config dict)``.
* :func:`save_checkpoint` / :func:`load_checkpoint`: one ``.pt`` file holds the kind, the config,
  the weights, optionally the noise schedule, and metadata; it loads with
  ``torch.load(path, weights_only=True)`` (plain data only, no pickled classes).
* :func:`load_pretrained`: the weights shipped in ``ddpm_helpers/weights/`` (offline; no
  download), each ``NAME.pt`` with a model card ``NAME.md`` beside it that records the command,
  config, hardware, training time and metrics; :func:`load_card_metrics` reads the metrics
  ``python -m ddpm_helpers.cli.pretrained evaluate-unet`` measured (``NAME.metrics.json``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import torch
from torch import nn

from .checks import merge_config
from .classifier import ClassifierConfig, FashionClassifier
from .models import MLPConfig, TimeMLP, UNet, UNetConfig
from .paths import WEIGHTS_DIR
from .schedules import NoiseSchedule

__all__ = ["model_kind", "build_model", "config_dict", "save_checkpoint", "load_checkpoint", "PRETRAINED",
           "load_pretrained", "load_card_metrics"]

CHECKPOINT_FORMAT = "ddpm_helpers/1"
PRETRAINED = {
    "fashion_unet": "DDPM U-Net on FashionMNIST (linear schedule, T=1000, epsilon prediction, EMA weights)",
    "fashion_cond_unet": "Class-conditional DDPM U-Net on FashionMNIST for classifier-free guidance (notebook 07; "
                         "label embedding added to the time embedding, null label 10, EMA weights)",
    "fashion_classifier": "Small FashionMNIST CNN: its 128-D penultimate layer is the feature space of "
                          "FID/KID in this series, its logits give the class histogram of samples",
}


# ----------------------------------------------------------------------------- registry
# kind -> (model class, config class); the kinds are stored in checkpoint files: never rename one
_KINDS = {"mlp": (TimeMLP, MLPConfig), "unet": (UNet, UNetConfig),
          "classifier": (FashionClassifier, ClassifierConfig)}


def model_kind(model: nn.Module) -> str:
    """The registry name of a model ("mlp", "unet" or "classifier")."""
    for kind, (cls, _) in _KINDS.items():
        if type(model) is cls:
            return kind
    raise ValueError(f"model must be a TimeMLP, a UNet or a FashionClassifier from ddpm_helpers, "
                     f"got {type(model).__name__}")


def build_model(kind: str, config: dict | None = None) -> nn.Module:
    """Build a model from its registry name and a config dict (as stored in a checkpoint)."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    cls, cfg_cls = _KINDS[kind]
    return cls(merge_config(cfg_cls, None, dict(config or {})))  # the caller's dict is not modified


def config_dict(model: nn.Module) -> dict:
    """The model's config as a plain dict (tuples turned into lists are turned back on load)."""
    return asdict(model.config)


def _stored_config(model: nn.Module) -> dict:
    """:func:`config_dict` as a checkpoint stores it: tuples as lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config_dict(model).items()}


# ----------------------------------------------------------------------------- the file format
def save_checkpoint(path: str | Path, model: nn.Module, sched: NoiseSchedule | None = None,
                    meta: dict | None = None) -> None:
    """Save weights plus everything needed to rebuild the model (and its schedule).

    The file holds only tensors, numbers, strings, lists and dicts, so it loads with
    ``torch.load(path, weights_only=True)``; ``meta`` that could not be loaded back that way is
    refused with a ValueError (before anything is written).
    """
    meta = _plain(meta or {}, "meta")
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "kind": model_kind(model),
        "config": _stored_config(model),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    if sched is not None:
        # every float32 table, so that loading gives back exactly this schedule (re-deriving
        # from the float32 betas would differ in the last bits)
        ckpt["schedule"] = {f.name: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                            for f in fields(sched) for v in [getattr(sched, f.name)]}
    torch.save(ckpt, path)


_PLAIN = (bool, int, float, str, type(None))


def _plain(value, where: str):
    """``value`` with str subclasses turned into str, after checking that ``torch.load(weights_only=True)``
    can read it back: None, bool, int, float, str, tensors, and lists/tuples/dicts (str keys) of them."""
    if isinstance(value, str):
        return str(value)  # e.g. torch.__version__ is a TorchVersion, a str subclass weights_only rejects
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ValueError(f"{where} keys must be strings, got {bad[0]!r}")
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise ValueError(f"{where} holds a {type(value).__name__} ({value!r:.60}), which a checkpoint cannot "
                     f"load back with torch.load(weights_only=True); allowed: None, bool, int, float, str, "
                     f"tensors, and lists/dicts of them (convert it, e.g. str(value))")


def load_checkpoint(path: str | Path, model: nn.Module | None = None,
                    device: torch.device | str = "cpu") -> tuple[nn.Module, NoiseSchedule | None, dict]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Returns ``(model, sched, meta)``: the model rebuilt from the stored config (or ``model``, when
    given, after checking that its config matches) on ``device`` in eval mode, the stored schedule
    (on the CPU; or None) and the metadata.
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a ddpm_helpers checkpoint (no 'format': '{CHECKPOINT_FORMAT}' entry)")
    kind, cfg = ckpt["kind"], ckpt["config"]
    if model is None:
        model = build_model(kind, cfg)
    else:
        mine = _stored_config(model)
        if model_kind(model) != kind or mine != cfg:
            diff = {k: (mine.get(k), cfg.get(k)) for k in set(mine) | set(cfg) if mine.get(k) != cfg.get(k)}
            raise ValueError(f"checkpoint {path} was built for a {kind} with a different config; the given "
                             f"model is a {model_kind(model)}; differing fields (given, checkpoint): {diff}. "
                             f"Call load_checkpoint(path) without a model to rebuild the right one.")
    model.load_state_dict(ckpt["state_dict"])
    model.to(device).eval()
    sched = NoiseSchedule(**ckpt["schedule"]) if "schedule" in ckpt else None  # every table, as saved
    return model, sched, ckpt["meta"]


# ----------------------------------------------------------------------------- the shipped weights
def _check_pretrained_name(name: str) -> None:
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {sorted(PRETRAINED)}, got {name!r}")


def load_pretrained(name: str, device: torch.device | str = "cpu") -> tuple[nn.Module, NoiseSchedule | None, dict]:
    """Load shipped weights by name. Returns ``(model, sched, meta)`` as :func:`load_checkpoint` does."""
    _check_pretrained_name(name)
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"shipped weights {path} are missing; reinstall ddpm_helpers or retrain them "
                                f"(see {WEIGHTS_DIR / (name + '.md')})")
    return load_checkpoint(path, device=device)


def load_card_metrics(name: str = "fashion_unet") -> dict | None:
    """The metrics that ``evaluate-unet`` measured for shipped weights (``NAME.metrics.json``), or None."""
    _check_pretrained_name(name)
    path = WEIGHTS_DIR / f"{name}.metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None

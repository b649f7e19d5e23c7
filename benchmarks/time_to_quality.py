"""Time to quality: how FID falls with minutes of U-Net training, for one training recipe.

Trains a fresh FashionMNIST U-Net with ``ddpm_helpers.train`` for ``--minutes`` of training time and
measures sample quality from the EMA weights along the way and at the end:

* the **curve** (cheap): every ``--curve-every`` minutes, ``--curve-n`` DDIM samples (``--curve-steps``
  steps, the model under bf16 autocast where the CPU has AMX: ``--curve-precision``), FID/KID against the
  test set in the project's classifier features;
* the **final point**: ``--final-n`` samples (default 2048) with ``--final-steps`` DDIM steps, FID with its
  bootstrap spread, and KID; the real-against-real floor at the same n beside it.

Evaluation time is not counted as training time. Every recipe lever the ablation compares is a flag
(defaults: the series' U-Net recipe, ``ddpm_helpers.UNET_RECIPE``), so each ablation row is one command::

    python benchmarks/time_to_quality.py --tag recipe --minutes 90 --save /tmp/unet.pt   # the recipe's curve
    python benchmarks/time_to_quality.py --tag fp32 --amp off --minutes 8 --threads 1    # one ablation row
    python benchmarks/time_to_quality.py --table                                         # the ablation table

Each run writes ``results/ttq/<tag>.json``; ``--table`` prints the Markdown table of all of them (the
one in benchmarks/README.md) with the floor's spread over 5 draws of real images at the final n, and
writes it to ``results/ttq_table.json``. ``--sampler-grid WEIGHTS`` measures the sampler settings at
evaluation (x0 clipping, eta) on fixed weights instead of training.
Ctrl-C stops training early; what was trained is still evaluated and written.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from _common import RESULTS, environment, load_model, table, write_json
from ddpm_helpers import (
    NoiseSchedule,
    TrainConfig,
    UNet,
    UNetConfig,
    configure_threads,
    load_fashion_mnist,
    pick_device,
    resolve_amp,
    save_checkpoint,
    train,
)
from ddpm_helpers.cli.pretrained import add_recipe_arguments, recipe_from_args
from ddpm_helpers.core.metrics import image_quality_ci, real_floor, real_floor_spread
from ddpm_helpers.core.quality import draw_samples, quality_curve

TTQ = "ttq"  # results/ttq/<tag>.json


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tag", default="recipe", help="name of this run (results/ttq/<tag>.json)")
    p.add_argument("--label", default=None, help="what this run changes, for the table (default: the tag)")
    p.add_argument("--minutes", type=float, default=10.0, help="training-time budget")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: $DDPM_THREADS, else the CPUs this process may use)")
    p.add_argument("--device", default=None)
    # the recipe's levers
    add_recipe_arguments(p)
    p.add_argument("--schedule", default="linear", choices=["linear", "cosine"])
    p.add_argument("--width", type=int, default=UNetConfig.base_channels, help="UNetConfig.base_channels")
    p.add_argument("--mults", default="1,2,2", help="UNetConfig.channel_mults")
    p.add_argument("--res-blocks", type=int, default=UNetConfig.num_res_blocks)
    p.add_argument("--no-attention", action="store_true", help="no self-attention in the middle (7x7)")
    p.add_argument("--attention-levels", default="", help="UNetConfig.attention_levels, e.g. 1 (14x14) or 1,2")
    # evaluation
    p.add_argument("--curve-every", type=float, default=5.0, help="minutes of training between curve points")
    p.add_argument("--curve-n", type=int, default=512)
    p.add_argument("--curve-steps", type=int, default=20)
    p.add_argument("--curve-precision", default="auto", choices=["auto", "bf16", "off"],
                   help="the model's precision while sampling the curve (auto: bf16 on AMX CPUs and CUDA)")
    p.add_argument("--final-n", type=int, default=2048)
    p.add_argument("--final-steps", type=int, default=50)
    p.add_argument("--final-precision", default="auto", choices=["auto", "bf16", "off"])
    p.add_argument("--eta", type=float, default=0.0)
    p.add_argument("--no-clip", action="store_true", help="sample without clipping x0_hat to [-1, 1]")
    p.add_argument("--save", default=None, metavar="PATH", help="save the final EMA weights here "
                   "(a checkpoint that sampling.py and ddim_table.py take with --weights)")
    p.add_argument("--table", action="store_true", help="print the table of all results/ttq/*.json and exit")
    p.add_argument("--sampler-grid", default=None, metavar="WEIGHTS",
                   help="no training: sample these weights ('fashion_unet' or a checkpoint) at --final-n with "
                        "--final-steps DDIM steps for x0 clipping on/off x eta 0/1 (results/ttq_sampler_grid.json)")
    return p.parse_args()


def main():
    args = parse()
    if args.table:
        return print_table()
    configure_threads(args.threads)
    device = pick_device(args.device)
    if args.sampler_grid:
        return sampler_grid(args, device)
    torch.manual_seed(0)
    x, _ = load_fashion_mnist("train", device=device)
    sched = (NoiseSchedule.cosine if args.schedule == "cosine" else NoiseSchedule.linear)(1000)
    unet = UNetConfig(base_channels=args.width, channel_mults=tuple(int(m) for m in args.mults.split(",")),
                      num_res_blocks=args.res_blocks, attention=not args.no_attention,
                      attention_levels=tuple(int(i) for i in args.attention_levels.split(",") if i.strip()))
    curve_prec = resolve_amp("auto" if args.curve_precision == "auto" else args.curve_precision, device)
    final_prec = resolve_amp("auto" if args.final_precision == "auto" else args.final_precision, device)
    curve = quality_curve(sched, args.curve_every, n=args.curve_n, steps=args.curve_steps, precision=curve_prec,
                          clip_x0=not args.no_clip)
    config = TrainConfig(**recipe_from_args(args), steps=10**7, time_limit=args.minutes * 60, log_every=25,
                         device=str(device), progress=False)
    model = UNet(unet)
    result = train(model, x, sched, config, callback=curve)
    if args.save:
        save_checkpoint(args.save, result.ema, sched, meta={"steps": result.steps_done, "seconds": result.seconds,
                                                            "tag": args.tag, "args": vars(args)})
        print(f"saved the EMA weights to {args.save}")
    t0 = time.perf_counter()
    final = image_quality_ci(draw_samples(result.ema, sched, args.final_n, "ddim", args.final_steps, eta=args.eta,
                                          clip_x0=not args.no_clip, precision=final_prec))
    floor = real_floor(args.final_n)
    print(table(curve.points, ["step", "minutes", "fid", "kid", "eval_seconds"]))
    print(f"[{args.tag}] {result.steps_done} steps in {result.seconds / 60:.1f} min ({result.precision}): "
          f"FID {final['fid']:.2f} +- {final['fid_std']:.2f} at n={args.final_n} (DDIM-{args.final_steps}), "
          f"floor {floor['fid']:.2f}: {final['fid'] / floor['fid']:.1f}x", flush=True)
    RESULTS.joinpath(TTQ).mkdir(parents=True, exist_ok=True)
    write_json(f"{TTQ}/{args.tag}", {
        "env": environment(device), "args": vars(args), "label": args.label or args.tag, "precision": result.precision,
        "parameters": sum(p.numel() for p in model.parameters()), "steps": result.steps_done,
        "minutes_trained": result.seconds / 60, "interrupted": result.interrupted,
        "final_loss": float(result.losses[-200:].mean()), "curve": curve.points,
        "final": {**final, "steps": args.final_steps, "precision": final_prec,
                  "eval_seconds": round(time.perf_counter() - t0, 1)},
        "floor": floor})


def sampler_grid(args, device):
    """The sampler settings at evaluation, on fixed weights: x0 clipping and eta, same x_T for every row."""
    model, sched, meta = load_model(args.sampler_grid, device)
    precision = resolve_amp("auto" if args.final_precision == "auto" else args.final_precision, device)
    rows = []
    for clip in (False, True):
        for eta in (0.0, 1.0):
            t0 = time.perf_counter()
            q = image_quality_ci(draw_samples(model, sched, args.final_n, "ddim", args.final_steps, eta=eta,
                                              clip_x0=clip, precision=precision))
            rows.append({"clip_x0": clip, "eta": eta, **q, "seconds": round(time.perf_counter() - t0, 1)})
            print(f"clip {clip}, eta {eta:g}: FID {q['fid']:.2f} +- {q['fid_std']:.2f}", flush=True)
    floor = real_floor_spread(args.final_n, seeds=5)
    print(table([{"x0 clipping": "on" if r["clip_x0"] else "off", "eta": f"{r['eta']:g}",
                  "FID": f"{r['fid']:.2f} ± {r['fid_std']:.2f}", "x floor": f"{r['fid'] / floor['fid']:.1f}",
                  "KID x1e3": f"{1e3 * r['kid']:.1f} ± {1e3 * r['kid_std']:.1f}"} for r in rows],
                ["x0 clipping", "eta", "FID", "x floor", "KID x1e3"]))
    print(f"floor FID {floor['fid']:.2f} ± {floor['fid_std']:.2f} at n = {args.final_n}")
    write_json("ttq_sampler_grid", {"env": environment(device), "weights": args.sampler_grid,
                                    "weights_steps": meta.get("steps"), "n": args.final_n,
                                    "ddim_steps": args.final_steps, "precision": precision, "floor": floor,
                                    "rows": rows})


def print_table():
    runs = [json.loads(p.read_text()) for p in sorted((RESULTS / TTQ).glob("*.json"))]
    if not runs:
        raise SystemExit(f"no results in {RESULTS / TTQ}")
    floors = {}
    rows = []
    for r in runs:
        n = r["final"]["n"]
        if n not in floors:
            floors[n] = real_floor_spread(n, seeds=5)
        fl = floors[n]
        rows.append({"run": r["args"]["tag"], "what changes": r.get("label", r["args"]["tag"]),
                     "threads": r["env"]["torch_threads"], "precision": r["precision"],
                     "parameters (M)": f"{r['parameters'] / 1e6:.2f}", "minutes": f"{r['minutes_trained']:.1f}",
                     "steps": r["steps"], "images (k)": f"{r['steps'] * r['args']['batch_size'] / 1e3:.1f}",
                     "FID": f"{r['final']['fid']:.2f} ± {r['final']['fid_std']:.2f}",
                     "x floor": f"{r['final']['fid'] / fl['fid']:.0f}",
                     "KID x1e3": f"{1e3 * r['final']['kid']:.0f} ± {1e3 * r['final']['kid_std']:.0f}"})
    n = runs[0]["final"]["n"]
    samplers = sorted({f"DDIM-{r['final']['steps']} ({r['final']['precision']})" for r in runs})
    print(f"FID and KID at n = {n}; floor FID {floors[n]['fid']:.2f} ± {floors[n]['fid_std']:.2f} "
          f"({floors[n]['seeds']} draws of {n} training images); sampler: "
          f"{', '.join(samplers)}")
    print(table(rows, list(rows[0])))
    write_json("ttq_table", {"env": environment(torch.device("cpu")), "floor": floors[n], "rows": rows})


if __name__ == "__main__":
    main()

"""Training throughput of the FashionMNIST U-Net: ddpm_helpers.train against a tutorial-style loop.

The reference loop is written the way the usual tutorials write it: a torchvision ``DataLoader``
over ``FashionMNIST`` with per-image ``ToTensor`` + ``Normalize`` transforms, float32, plain Adam,
no EMA, no gradient clipping; the same U-Net and batch size. Both run in one process, round-robin,
so the ratio is measured side by side. On the CPU it measures precision (float32, bf16 autocast) x
memory format (channels_last, contiguous); on CUDA it removes one speed feature at a time (mixed
precision, the device-resident dataset, channels_last) and adds torch.compile. AdamW is always fused on CUDA.

    python benchmarks/train_throughput.py            # CPU or the GPU that is there
    python benchmarks/train_throughput.py --steps 20 --rounds 5
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from _common import environment, interleave, median, table, write_json
from ddpm_helpers import NoiseSchedule, TrainConfig, UNet, configure_threads, load_fashion_mnist, pick_device, train
from ddpm_helpers.core.data import find_fashion_mnist
from ddpm_helpers.core.runtime import cpu_has_amx, resolve_amp


def torchvision_dataset(root: Path):
    """torchvision's FashionMNIST over the files ddpm_helpers finds (linked, no download)."""
    from torchvision import transforms
    from torchvision.datasets import FashionMNIST

    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        for f in find_fashion_mnist(split):
            if not (raw / f.name).exists():
                (raw / f.name).symlink_to(f)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return FashionMNIST(str(root), train=True, download=True, transform=tf)


class ReferenceLoop:
    """The tutorial loop. ``resident=True`` swaps the DataLoader for index-drawn batches of a device tensor."""

    def __init__(self, device, batch_size, sched, dataset=None, data=None):
        self.device, self.B, self.sched = device, batch_size, sched.to(device)
        self.model = UNet().to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=2e-4)
        self.dataset, self.data = dataset, data
        self._it = None

    def _batch(self):
        if self.data is not None:
            return self.data[torch.randint(0, self.data.shape[0], (self.B,), device=self.device)]
        if self._it is None:
            self._it = iter(self.loader)
        try:
            x, _ = next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
            x, _ = next(self._it)
        return x.to(self.device)

    @property
    def loader(self):
        return torch.utils.data.DataLoader(self.dataset, batch_size=self.B, shuffle=True, drop_last=True)

    def run(self, steps):
        for _ in range(steps):
            x0 = self._batch()
            t = torch.randint(0, self.sched.T, (self.B,), device=self.device)
            noise = torch.randn_like(x0)
            ab = self.sched.alpha_bars[t].view(-1, 1, 1, 1)
            loss = F.mse_loss(self.model(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, t), noise)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="steps per timed block (default: 10 CPU, 50 GPU)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--tag", default="", help="appended to the JSON's name (results/train_throughput_DEVICE_TAG.json)")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    threads = configure_threads()  # DDPM_THREADS, else the CPUs this process may use (core/cpus.py)
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (50 if cuda else 10)
    B = args.batch_size
    sched = NoiseSchedule.linear(1000)
    x, _ = load_fashion_mnist("train", device=device)  # resident once, so train() moves nothing per call
    tmp = tempfile.TemporaryDirectory()
    ref = ReferenceLoop(device, B, sched, dataset=torchvision_dataset(Path(tmp.name)))
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    auto = resolve_amp("auto", device)  # what the default picks here (runtime.resolve_amp)
    print(f"amp='auto' resolves to {auto!r} on {device} (AMX: {cpu_has_amx()})")
    variants = {"ddpm_helpers.train": TrainConfig()}
    if not cuda:  # precision x memory format, each measured side by side (the default is one of them)
        for amp in ("off", "bf16"):
            for cl in (True, False):
                name = f"  {'float32' if amp == 'off' else 'bf16 autocast'}, {'channels_last' if cl else 'contiguous'}"
                variants[name] = TrainConfig(amp=amp, channels_last=cl)
    else:
        variants.update({
            "  without channels_last": TrainConfig(channels_last=False),
            "  float32 (amp='off')": TrainConfig(amp="off"),
            "  with torch.compile": TrainConfig(compile=True),
        })
    models = {k: UNet() for k in variants}

    def ours(name):
        cfg = variants[name]
        def fn():
            train(models[name], x, sched, cfg, steps=steps, batch_size=B, progress=False, warmup=1,
                  log_every=steps, device=str(device))
        return fn

    fns = {k: ours(k) for k in variants}
    fns["reference (DataLoader, fp32, no EMA)"] = lambda: ref.run(steps)
    if cuda:
        ref_res = ReferenceLoop(device, B, sched, data=x)
        fns["reference + resident dataset"] = lambda: ref_res.run(steps)
    for fn in fns.values():  # warm-up: allocators, oneDNN/cuDNN plans, compile
        fn()
    times = interleave(fns, args.rounds, sync)
    rows, ref_rate = [], steps * B / median(times["reference (DataLoader, fp32, no EMA)"])
    for k, ts in times.items():
        rate = steps * B / median(ts)
        rows.append({"loop": k, "images/s": f"{rate:.1f}", "vs reference": f"{rate / ref_rate:.2f}x",
                     "min..max images/s": f"{steps * B / max(ts):.0f}..{steps * B / min(ts):.0f}"})
    print(table(rows, ["loop", "images/s", "vs reference", "min..max images/s"]))
    name = f"train_throughput_{device.type}" + (f"_{args.tag}" if args.tag else "")
    write_json(name, {"env": environment(device), "steps_per_block": steps, "rounds": args.rounds, "batch_size": B,
                      "threads": threads, "amp_auto": auto, "amx": cpu_has_amx(), "rows": rows, "seconds": times})


if __name__ == "__main__":
    main()

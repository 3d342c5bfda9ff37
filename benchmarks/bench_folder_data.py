"""Your own images: ``data=folder`` streaming and ``seetrain predict`` against hand-written PyTorch.

    python benchmarks/bench_folder_data.py [--images 2000] [--size 32] [--workers 2] [--repeats 3]

1. Streaming (issue 27 target: >= 90 % of a hand-written DataLoader loop over the same folder): one
   epoch of training batches from ``build_data(data=folder)`` through the trainer's loader
   (``seetrain.train.backends.torch_data.loader``, the DataLoader the Lightning backend uses with
   ``data.num_workers``) against a plain ``torch.utils.data.Dataset`` that opens each file with
   Pillow, converts, scales and normalises it, in a DataLoader with the same workers and batch size.
   Images per second, repeats interleaved; the ratio is the median of per-repeat ratios.
2. ``predict`` over ``--images`` files with a trained model (target: no slower than a hand-written
   loop + 10 %): :func:`seetrain.train.predict.predict` (model rebuilt from the run, images decoded
   and normalised as in training, batches of 64) against Pillow + the same model in a plain loop.

Prints a table; quote the load average printed beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def make_folder(root: str, n: int, size: int, classes: int = 10) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("val", max(n // 10, classes))):
        for i in range(count):
            c = i % classes
            folder = os.path.join(root, split, f"class{c:02d}")
            os.makedirs(folder, exist_ok=True)
            px = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(px).save(os.path.join(folder, f"{i:06d}.png"))


class HandWritten:
    """The hand-written baseline: one file -> one normalised float tensor."""

    def __init__(self, root: str, mean, std) -> None:
        import torch

        self.items = []
        classes = sorted(os.listdir(root))
        for label, c in enumerate(classes):
            for f in sorted(os.listdir(os.path.join(root, c))):
                self.items.append((os.path.join(root, c, f), label))
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        import torch
        from PIL import Image

        path, label = self.items[i]
        with Image.open(path) as img:
            x = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)
        return (x.float() / 255.0 - self.mean) / self.std, label


def epoch_rate(loader) -> float:
    n, t0 = 0, time.perf_counter()
    for x, y in loader:
        n += len(y)
    return n / (time.perf_counter() - t0)


def streaming(root: str, workers: int, repeats: int, batch: int = 64):
    import torch
    from torch.utils.data import DataLoader

    from seetrain.train.backends.torch_data import loader
    from seetrain.train.data import build_data

    data = build_data({"name": "folder", "root": root, "batch_size": batch, "num_workers": workers})
    mine = loader(data.train, batch, True, workers, 0)
    theirs = DataLoader(HandWritten(os.path.join(root, "train"), data.train.mean.ravel(), data.train.std.ravel()),
                        batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    epoch_rate(mine), epoch_rate(theirs)  # warm-up: worker start, page cache
    ours, base = [], []
    for _ in range(repeats):
        ours.append(epoch_rate(mine))
        base.append(epoch_rate(theirs))
    return ours, base


def train_run(root: str, logdir: str) -> str:
    cmd = [sys.executable, "-m", "seetrain.cli", "train", "data=folder", f"data.root={root}", "model=small_cnn",
           "trainer.max_epochs=1", "trainer.enable_progress_bar=false", f"logger.logdir={logdir}",
           "data.num_workers=0", "trainer.limit_train_batches=4"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    project = os.path.join(logdir, os.listdir(logdir)[0])
    return os.path.join(project, os.listdir(project)[0])


def predict_times(run_dir: str, files, repeats: int):
    import torch
    from PIL import Image

    from seetrain.train.predict import predict
    from seetrain.train.trained import load

    trained = load(run_dir)
    mean = torch.tensor(trained.mean).view(1, -1, 1, 1)
    std = torch.tensor(trained.std).view(1, -1, 1, 1)

    def by_hand():
        out = []
        with torch.no_grad():
            for i in range(0, len(files), 64):
                xs = []
                for p in files[i:i + 64]:
                    with Image.open(p) as img:
                        xs.append(np.asarray(img.convert("RGB"), dtype=np.uint8))
                x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
                out.extend(torch.softmax(trained.model((x - mean) / std), 1).argmax(1).tolist())
        return out

    def ours():
        return [p.index for p in predict(run_dir, files, batch_size=64)]

    assert ours() == by_hand()  # the same predictions; also the warm-up
    a, b = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        by_hand()
        b.append(time.perf_counter() - t0)
    return a, b


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "images")
        make_folder(root, args.images, args.size)
        ours, base = streaming(root, args.workers, args.repeats)
        ratios = [a / b for a, b in zip(ours, base)]
        run_dir = train_run(root, os.path.join(tmp, "logs"))
        files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(root, "train")) for f in fs)[:1000]
        mine, hand = predict_times(run_dir, files, args.repeats)
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"\n{args.images} train images {args.size}x{args.size} PNG, {args.workers} workers, load {load}\n")
    print("| measure | seetrain | hand-written | ratio (median, min-max) | target |")
    print("|---|---|---|---|---|")
    print(f"| data=folder epoch, images/s | {statistics.median(ours):,.0f} | {statistics.median(base):,.0f} | "
          f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | >= 0.90 |")
    pr = [a / b for a, b in zip(mine, hand)]
    print(f"| predict 1,000 images, s | {statistics.median(mine):.2f} | {statistics.median(hand):.2f} | "
          f"{statistics.median(pr):.2f} ({min(pr):.2f}-{max(pr):.2f}) | <= 1.10 |")


if __name__ == "__main__":
    main()

"""multimodal-training on the synthetic shapes/tones/words task: held-out accuracy and training
throughput per fusion method and encoder pair (CPU, one thread).

    python benchmarks/bench_multimodal.py [--train 320] [--test 160] [--epochs 5]

Chance is 12.5 %; any two modalities alone reach at most 50 %.
"""

from __future__ import annotations

import argparse
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", type=int, default=320)
    ap.add_argument("--test", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args(argv)
    import torch

    from seetrain.apt.plugins.multimodal.synthetic import make_synthetic_multimodal
    from seetrain.apt.plugins.multimodal_training import MultimodalTrainingPlugin

    torch.set_num_threads(1)
    train = make_synthetic_multimodal(args.train, seed=1)
    test = make_synthetic_multimodal(args.test, seed=2)
    rows = []
    for fusion in ("concatenate", "add", "attention"):
        for vision, audio in (("clip", "wav2vec2"), ("vit", "custom"), ("custom", "wav2vec2")):
            torch.manual_seed(0)
            plugin = MultimodalTrainingPlugin(vision_encoder=vision, audio_encoder=audio)
            dl = plugin.create_multimodal_dataloader(train["text"], train["image"], train["audio"], train["label"],
                                                     batch_size=32, seed=0)
            ev = plugin.create_multimodal_dataloader(test["text"], test["image"], test["audio"], test["label"],
                                                     batch_size=80, shuffle=False)
            model = plugin.create_multimodal_model(None, fusion, num_classes=8)
            t0 = time.perf_counter()
            hist = plugin.train_multimodal(model, dl, num_epochs=args.epochs, eval_dataloader=ev)
            seconds = time.perf_counter() - t0
            params = sum(p.numel() for p in model.parameters())
            rows.append((fusion, vision, audio, f"{params:,}", f"{hist['eval_accuracy'][-1]:.3f}",
                         f"{args.train * args.epochs / seconds:.0f}", f"{seconds:.1f}"))
    head = ("fusion", "vision", "audio", "params", "test acc", "samples/s", "train s")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*head))
    for r in rows:
        print(fmt.format(*r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

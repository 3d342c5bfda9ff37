"""GGUF export: file size, export time and quantisation error per type, for a Llama and an APT model.

    python benchmarks/bench_gguf_export.py [--hidden 256] [--layers 4]

For each quantisation gguf-py can write (and, for Llama, the K-quants Q4_K_M/Q6_K made by llama.cpp's own
quantiser when node-llama-cpp is installed: bash scripts/install_llamacpp.sh): bytes on disk, export seconds, mean relative weight error
(||dequantised - original|| / ||original||, averaged over tensors) and the largest logit difference of
the model rebuilt from the file (Transformers' GGUF loader for Llama, load_apt_from_gguf for APT),
relative to the largest logit. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    from seetrain.apt.model import APTConfig, APTLanguageModel
    from seetrain.apt.plugins.gguf_convert import load_apt_from_gguf, supported_quantizations, write_gguf
    from seetrain.apt.plugins.llamacpp import llamacpp_can_quantize

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    h, n = args.hidden, args.layers
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=259, hidden_size=h, intermediate_size=2 * h, num_hidden_layers=n,
                                         num_attention_heads=max(1, h // 64), max_position_embeddings=256)).eval()
    apt = APTLanguageModel(APTConfig(vocab_size=259, d_model=h, n_heads=max(1, h // 64), n_layers=n,
                                     rank=max(8, h // 4), max_seq_len=256)).eval()
    ids = torch.randint(0, 256, (1, 64), generator=torch.Generator().manual_seed(0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        for label, model in (("llama", llama), ("apt", apt)):
            want = model(ids).logits
            params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
            kquants = ["Q6_K", "Q4_K_M"] if label == "llama" and llamacpp_can_quantize() and h % 256 == 0 else []
            for q in supported_quantizations() + kquants:
                path = os.path.join(tmp, f"{label}-{q}.gguf")
                r = write_gguf(model, path, q)
                if label == "llama":
                    back = LlamaForCausalLM.from_pretrained(tmp, gguf_file=os.path.basename(path)).eval()
                else:
                    back = load_apt_from_gguf(path).eval()
                diff = ((back(ids).logits - want).abs().max() / want.abs().max()).item()
                if q in kquants:  # written by llama.cpp: measure the weight error from the file
                    import numpy as np

                    from seetrain.apt.plugins.gguf_convert import read_tensors
                    ref = {n: t for n, (_, t) in read_tensors(os.path.join(tmp, "llama-F32.gguf")).items()}
                    errs = [np.linalg.norm(a - ref[n]) / max(np.linalg.norm(ref[n]), 1e-12)
                            for n, (_, a) in read_tensors(path).items()]
                    r.mean_rel_error = float(np.mean(errs))
                rows.append((label, params, q, r.n_bytes, r.seconds, r.mean_rel_error, diff))
    print(f"{'model':6} {'params':>8} {'quant':6} {'bytes':>10} {'bytes/param':>11} {'export s':>9} "
          f"{'weight rel err':>14} {'logit rel diff':>14}")
    for label, params, q, nbytes, secs, err, diff in rows:
        print(f"{label:6} {params:>8} {q:6} {nbytes:>10} {nbytes / params:>11.3f} {secs:>9.3f} {err:>14.2e} {diff:>14.2e}")


if __name__ == "__main__":
    main()

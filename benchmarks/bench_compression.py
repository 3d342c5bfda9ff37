"""Measured compression with the APT plugins model-distillation, model-pruning and data-processors.

    .venv/bin/python benchmarks/bench_compression.py            # about 1.5 minutes on 1 CPU thread
    .venv/bin/python benchmarks/bench_compression.py --lm       # plus an APT language-model row

Data that ships with a dependency or the package: scikit-learn's bundled digits set (8x8 images,
10 classes) and the APT corpus (``seetrain.apt.data.load_corpus()``). Prints three tables:

1. distillation: a small student distilled from a large teacher (digits MLP; APT language model),
   parameters, safetensors size, CPU latency, speed-up and accuracy / perplexity retained;
2. pruning: unstructured magnitude and structured (torch-pruning) pruning of a digits MLP, each
   fine-tuned, with parameters removed, accuracy drop and CPU speed-up;
3. data processing: minority-class recall of a TF-IDF + logistic-regression classifier on an
   imbalanced sentence task from the APT corpus, without and with augmentation + balancing.
"""

from __future__ import annotations

import argparse
import copy
import re
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from seetrain.apt.plugins.data_processors import DataProcessorsPlugin
from seetrain.apt.plugins.model_distillation import ModelDistillationPlugin
from seetrain.apt.plugins.model_pruning import ModelPruningPlugin


def table(title, header, rows):
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")


# --- digits ------------------------------------------------------------------------------------------
def digits_loaders(seed=0, batch=64):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, random_state=seed, stratify=y)
    Xtr, Xte = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(Xte, dtype=torch.float32)
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    g = torch.Generator().manual_seed(seed)

    class Shuffled:
        def __iter__(self):
            perm = torch.randperm(len(Xtr), generator=g)
            for i in range(0, len(perm), batch):
                idx = perm[i:i + batch]
                yield Xtr[idx], ytr[idx]

    return Shuffled(), [(Xte, yte)]


def mlp(widths, seed):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def train(model, loader, epochs, lr=1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model


def bench_distillation(rows_out):
    train_dl, test_dl = digits_loaders()
    teacher = train(mlp([64, 256, 256, 10], 0), train_dl, 40, lr=3e-3)
    scratch = train(mlp([64, 32, 10], 1), train_dl, 60, lr=3e-3)  # the same student without a teacher
    student = mlp([64, 32, 10], 1)
    plugin = ModelDistillationPlugin({"temperature": 2.0, "alpha": 0.5, "beta": 0.5, "learning_rate": 3e-3})
    plugin.distill(teacher, student, train_dl, num_epochs=60)
    res = plugin.evaluate_compression(teacher, student, test_dl, latency_repeats=50)
    scratch_acc = plugin.evaluate_compression(teacher, scratch, test_dl, latency_repeats=5)["student_accuracy"]
    rows_out.append(["digits MLP 64-256-256-10 -> 64-32-10 (response KD)", res["teacher_params"],
                     res["student_params"], res["param_ratio"], res["teacher_size_mb"] * 1000,
                     res["student_size_mb"] * 1000, res["teacher_latency_ms"], res["student_latency_ms"],
                     res["speedup"], f"acc {res['teacher_accuracy']:.4f}",
                     f"acc {res['student_accuracy']:.4f} (scratch {scratch_acc:.4f})", res["accuracy_retained"]])
    return res


def bench_lm_distillation(rows_out, steps=150):
    from seetrain.apt.data import ByteTokenizer, load_corpus
    from seetrain.apt.model import APTConfig, APTLanguageModel

    ids = torch.tensor(ByteTokenizer().encode(load_corpus()), dtype=torch.long)
    T, B = 64, 16
    n_val = 32 * T
    train_ids, val_ids = ids[:-n_val], ids[-n_val:]
    g = torch.Generator().manual_seed(0)

    def batches(n):
        for _ in range(n):
            starts = torch.randint(0, len(train_ids) - T, (B,), generator=g)
            yield torch.stack([train_ids[s:s + T] for s in starts])

    val = [val_ids.view(-1, T)[i:i + 8] for i in range(0, 32, 8)]
    torch.manual_seed(0)
    teacher = APTLanguageModel(APTConfig(d_model=96, n_heads=4, n_layers=3, rank=24, max_seq_len=T))
    opt = torch.optim.AdamW(teacher.parameters(), lr=3e-3)
    for x in batches(2 * steps):
        opt.zero_grad()
        teacher(x, labels=x).loss.backward()
        opt.step()
    student_cfg = APTConfig(d_model=48, n_heads=4, n_layers=2, rank=12, max_seq_len=T)
    torch.manual_seed(1)
    scratch = APTLanguageModel(student_cfg)  # the same student trained on the same batches without a teacher
    opt = torch.optim.AdamW(scratch.parameters(), lr=3e-3)
    student_batches = list(batches(2 * steps))
    for x in student_batches:
        opt.zero_grad()
        scratch(x, labels=x).loss.backward()
        opt.step()
    torch.manual_seed(1)
    student = APTLanguageModel(student_cfg)
    plugin = ModelDistillationPlugin({"temperature": 2.0, "alpha": 0.5, "beta": 0.5, "learning_rate": 3e-3,
                                      "distill_method": "feature"})
    plugin.distill(teacher, student, student_batches, num_epochs=1)
    res = plugin.evaluate_compression(teacher, student, val, example_inputs=val[0], latency_repeats=20)
    from seetrain.apt.plugins._compression import evaluate_model

    scratch_ppl = evaluate_model(scratch, val)["perplexity"]
    rows_out.append(["APT LM d96x3 -> d48x2 on the APT corpus (feature KD)", res["teacher_params"],
                     res["student_params"], res["param_ratio"], res["teacher_size_mb"] * 1000,
                     res["student_size_mb"] * 1000, res["teacher_latency_ms"], res["student_latency_ms"],
                     res["speedup"], f"ppl {res['teacher_perplexity']:.2f}, acc {res['teacher_accuracy']:.3f}",
                     f"ppl {res['student_perplexity']:.2f}, acc {res['student_accuracy']:.3f} (scratch ppl {scratch_ppl:.2f})",
                     res["accuracy_retained"]])
    return res


def bench_pruning(rows_out):
    train_dl, test_dl = digits_loaders()
    base = train(mlp([64, 512, 512, 10], 0), train_dl, 30)
    results = {}
    # unstructured: 50% of the weights to zero by global magnitude, then fine-tune with the masks on
    for ratio in (0.5, 0.8):
        pruned = copy.deepcopy(base)
        p = ModelPruningPlugin({"pruning_method": "magnitude", "pruning_ratio": ratio})
        p.magnitude_pruning(pruned)
        acc0 = p.evaluate_pruning(base, pruned, test_dl, latency_repeats=5)["pruned_accuracy"]
        p.fine_tune_pruned(pruned, train_dl, num_epochs=5, lr=5e-4)
        p.make_permanent(pruned)
        res = p.evaluate_pruning(base, pruned, test_dl, latency_repeats=50)
        results[f"magnitude {ratio}"] = res
        rows_out.append([f"magnitude, unstructured {ratio:.0%}", res["original_params"], res["pruned_nonzero_params"],
                         res["nonzero_removed"], res["original_accuracy"], acc0, res["pruned_accuracy"],
                         res["accuracy_drop"] * 100, res["original_size_mb"] * 1000, res["pruned_size_mb"] * 1000,
                         res["speedup"]])
    # structured: hidden neurons removed through torch-pruning's dependency graph, then fine-tune
    for ratio in (0.3, 0.5):
        pruned = copy.deepcopy(base)
        p = ModelPruningPlugin({"pruning_method": "structured", "pruning_ratio": ratio})
        p.structured_pruning(pruned, example_inputs=torch.randn(1, 64))
        acc0 = p.evaluate_pruning(base, pruned, test_dl, latency_repeats=5)["pruned_accuracy"]
        p.fine_tune_pruned(pruned, train_dl, num_epochs=10, lr=5e-4)
        res = p.evaluate_pruning(base, pruned, test_dl, latency_repeats=50)
        results[f"structured {ratio}"] = res
        rows_out.append([f"structured, {ratio:.0%} of neurons ({pruned[0].out_features}/{pruned[2].out_features})",
                         res["original_params"], res["pruned_params"], res["params_removed"],
                         res["original_accuracy"], acc0, res["pruned_accuracy"], res["accuracy_drop"] * 100,
                         res["original_size_mb"] * 1000, res["pruned_size_mb"] * 1000, res["speedup"]])
    return results


# --- text --------------------------------------------------------------------------------------------
MINORITY_WORDS = ("error", "errors", "exception", "exceptions", "raise", "raised", "raises")


def corpus_sentences():
    from seetrain.apt.data import load_corpus

    parts = re.split(r"(?<=[.!?])\s+|\n\s*\n", load_corpus())
    sents = [" ".join(s.split()) for s in parts]
    sents = list(dict.fromkeys(s for s in sents if 5 <= len(s.split()) <= 60))
    return [{"text": s, "label": int(any(re.search(rf"\b{w}\b", s.lower()) for w in MINORITY_WORDS))}
            for s in sents]


def bench_data(rows_out, seed=0):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, precision_score, recall_score
    from sklearn.model_selection import train_test_split

    data = corpus_sentences()
    labels = [r["label"] for r in data]
    train_set, test_set = train_test_split(data, test_size=0.4, random_state=seed, stratify=labels)

    def evaluate(name, records):
        vec = TfidfVectorizer(ngram_range=(1, 1), min_df=1, sublinear_tf=True)
        X = vec.fit_transform([r["text"] for r in records])
        clf = LogisticRegression(max_iter=2000).fit(X, [r["label"] for r in records])
        pred = clf.predict(vec.transform([r["text"] for r in test_set]))
        gold = [r["label"] for r in test_set]
        rec = recall_score(gold, pred, pos_label=1)
        rows_out.append([name, len(records), sum(r["label"] for r in records), rec,
                         precision_score(gold, pred, pos_label=1, zero_division=0),
                         f1_score(gold, pred, pos_label=1), f1_score(gold, pred, average="macro")])
        return rec

    base = evaluate("imbalanced training set as is", train_set)
    dp = DataProcessorsPlugin({"seed": seed})
    bal = evaluate("balance (oversample)", dp.process_pipeline(train_set, ["clean", "balance"]))
    dp = DataProcessorsPlugin({"seed": seed})
    steps = ["clean", "quality_check", ("augment", {"methods": ["synonym", "insert", "swap", "delete"]}),
             ("balance", {"method": "oversample", "augment": True})]
    both = evaluate("clean + quality + EDA augment + balance", dp.process_pipeline(train_set, steps))
    return {"baseline_recall": base, "balanced_recall": bal, "augment_balance_recall": both,
            "test_minority": sum(r["label"] for r in test_set), "test_size": len(test_set),
            "report": dp.last_report}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lm", action="store_true", help="add the APT language-model distillation row (+40-60 s)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()

    rows = []
    d = bench_distillation(rows)
    if args.lm:
        bench_lm_distillation(rows)
    table("model-distillation (CPU, 1 thread; latency on the whole test batch)",
          ["setup", "teacher params", "student params", "ratio", "teacher KB", "student KB", "teacher ms",
           "student ms", "speed-up", "teacher", "student", "accuracy retained"], rows)

    rows = []
    pr = bench_pruning(rows)
    table("model-pruning (digits MLP 64-512-512-10; fine-tuned after pruning; latency on 450 test images)",
          ["method", "params", "params left (non-zero)", "removed", "acc before", "acc pruned", "acc fine-tuned",
           "drop (points)", "KB before", "KB after", "speed-up"], rows)

    rows = []
    dres = bench_data(rows)
    table(f"data-processors (APT corpus sentences, minority = mentions errors/exceptions; test "
          f"{dres['test_minority']}/{dres['test_size']} minority)",
          ["training data", "records", "minority records", "minority recall", "minority precision",
           "minority F1", "macro F1"], rows)
    print("\npipeline steps:", ", ".join(f"{e['name']} {e['in']}->{e['out']}" for e in dres["report"]))

    s = pr["structured 0.3"]
    print("\nchecks:")
    print(f"  distillation: student/teacher params {d['param_ratio']:.3f} (<= 0.5), accuracy retained "
          f"{d['accuracy_retained']:.3f} (>= 0.95), speed-up {d['speedup']:.2f}x")
    print(f"  pruning: structured 30% removes {s['params_removed']:.1%} of parameters (>= 30%), accuracy drop "
          f"{s['accuracy_drop'] * 100:.2f} points (<= 1), speed-up {s['speedup']:.2f}x")
    print(f"  data: minority recall {dres['baseline_recall']:.3f} -> {dres['augment_balance_recall']:.3f}")
    print(f"\ntotal time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

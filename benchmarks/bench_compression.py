"""Measured compression with the APT plugins model-distillation, model-pruning and data-processors,
over several seeds, each against its from-scratch baseline.

    .venv/bin/python benchmarks/bench_compression.py             # 3 seeds; over an hour on a busy 2-core VM
    .venv/bin/python benchmarks/bench_compression.py --seeds 5   # more seeds
    .venv/bin/python benchmarks/bench_compression.py --quick     # 2 seeds; digits and text as in the full run,
                                                                 # the APT LM rows only a smoke check (short runs)

Data that ships with a dependency or the package: scikit-learn's bundled digits set (8x8 images,
10 classes) and the APT corpus (``seetrain.apt.data.load_corpus()``). Every figure is printed as
``mean ± std (min..max)`` over the seeds. Tables:

1. distillation: digits MLP teacher -> small student (accuracy), and an APT language model teacher ->
   a smaller APT student (validation perplexity); each beside the same student trained without a teacher
   on the same batches for the same steps;
2. pruning: digits MLP (unstructured magnitude, structured neurons) and the APT language model
   (structured: d_model, heads' width, vein/attention rank, FFN), each fine-tuned, beside the pruned
   architecture trained from scratch for the same total number of steps;
3. data processing: minority-class recall/F1 of a TF-IDF + logistic-regression classifier on an
   imbalanced sentence task from the APT corpus, as is (the baseline), balanced, and EDA + balanced.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import statistics
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


def spread(values, fmt="{:.4f}"):
    """``mean ± std (min..max)`` of a list of numbers."""
    values = [float(v) for v in values]
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{fmt.format(mean)} ± {fmt.format(std)} ({fmt.format(min(values))}..{fmt.format(max(values))})"


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


def accuracy(model, test_dl):
    from seetrain.apt.plugins._compression import evaluate_model

    return evaluate_model(model, test_dl)["accuracy"]


def digits_distillation(seed):
    train_dl, test_dl = digits_loaders(seed)
    teacher = train(mlp([64, 256, 256, 10], seed), train_dl, 40, lr=3e-3)
    scratch = train(mlp([64, 32, 10], seed + 100), train_dl, 60, lr=3e-3)
    student = mlp([64, 32, 10], seed + 100)  # the same initial student
    plugin = ModelDistillationPlugin({"temperature": 2.0, "alpha": 0.5, "beta": 0.5, "learning_rate": 3e-3})
    plugin.distill(teacher, student, train_dl, num_epochs=60)
    res = plugin.evaluate_compression(teacher, student, test_dl, latency_repeats=20)
    return {"teacher": res["teacher_accuracy"], "kd": res["student_accuracy"], "scratch": accuracy(scratch, test_dl),
            "speedup": res["speedup"], "params": (res["teacher_params"], res["student_params"])}


# --- the APT language model ------------------------------------------------------------------------
class LMData:
    """Random windows of the APT corpus (seeded) and a fixed validation set of its last bytes."""

    def __init__(self, seed, T=64, B=16):
        from seetrain.apt.data import ByteTokenizer, load_corpus

        ids = torch.tensor(ByteTokenizer().encode(load_corpus()), dtype=torch.long)
        n_val = 64 * T
        self.train_ids, self.val_ids = ids[:-n_val], ids[-n_val:]
        self.T, self.B, self.seed = T, B, seed
        self.val = [self.val_ids.view(-1, T)[i:i + 16] for i in range(0, 64, 16)]

    def batches(self, n, offset=0):
        g = torch.Generator().manual_seed(self.seed * 7919 + offset)
        out = []
        for _ in range(n):
            starts = torch.randint(0, len(self.train_ids) - self.T, (self.B,), generator=g)
            out.append(torch.stack([self.train_ids[s:s + self.T] for s in starts]))
        return out

    def ppl(self, model):
        from seetrain.apt.plugins._compression import evaluate_model

        return evaluate_model(model, self.val)["perplexity"]


def lm_train(model, batches, lr=3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / steps))))
    model.train()
    for x in batches:
        out = model(x, labels=x)
        opt.zero_grad()
        (out.loss + (out.aux_loss if out.aux_loss is not None else 0.0)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    return model


def lm_distillation(seed, teacher_steps, student_steps):
    from seetrain.apt.model import APTConfig, APTLanguageModel

    data = LMData(seed)
    torch.manual_seed(seed)
    teacher = lm_train(APTLanguageModel(APTConfig(d_model=128, n_heads=4, n_layers=3, rank=32, attn_rank=16,
                                                  max_seq_len=64)), data.batches(teacher_steps, 1))
    student_cfg = APTConfig(d_model=48, n_heads=4, n_layers=2, rank=12, max_seq_len=64)
    batches = data.batches(student_steps, 2)
    torch.manual_seed(seed + 100)
    scratch = lm_train(APTLanguageModel(student_cfg), batches)
    torch.manual_seed(seed + 100)
    student = APTLanguageModel(student_cfg)
    kd = ModelDistillationPlugin({"temperature": 2.0, "alpha": 0.5, "beta": 0.5, "distill_method": "kl_divergence"})
    kd.teacher = teacher.eval()
    opt = torch.optim.AdamW(student.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / student_steps))))
    student.train()
    for x in batches:  # the trainer's loss: alpha * KD + beta * cross-entropy (+ the vein penalty)
        out = student(x, labels=x)
        loss = kd.training_loss(student, x, out, 0)["loss"] + out.aux_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        sched.step()
    from seetrain.apt.plugins._compression import cpu_latency_ms

    x = data.val[0]
    speed = cpu_latency_ms(teacher, x, repeats=10) / cpu_latency_ms(student, x, repeats=10)
    return {"teacher": data.ppl(teacher), "kd": data.ppl(student), "scratch": data.ppl(scratch), "speedup": speed,
            "params": (teacher.num_parameters(), student.num_parameters())}


def lm_pruning(seed, base_steps, ft_steps, ratios=(0.3, 0.5)):
    """Train an APT LM, prune it structurally at each ratio, fine-tune; and the pruned architecture from scratch."""
    from seetrain.apt.model import APTConfig, APTLanguageModel

    data = LMData(seed)
    torch.manual_seed(seed)
    base = lm_train(APTLanguageModel(APTConfig(d_model=128, n_heads=4, n_layers=3, rank=32, attn_rank=16,
                                               max_seq_len=64)), data.batches(base_steps, 1))
    out = {"base": data.ppl(base), "base_params": base.num_parameters()}
    for ratio in ratios:
        pruned = copy.deepcopy(base)
        ModelPruningPlugin({"pruning_method": "structured"}).structured_pruning(pruned, ratio, example_inputs=data.val[0])
        pruned_ppl = data.ppl(pruned)
        lm_train(pruned, data.batches(ft_steps, 3), lr=1e-3)
        torch.manual_seed(seed + 200)
        scratch = lm_train(APTLanguageModel(APTConfig.from_dict(pruned.config.to_dict())),
                           data.batches(base_steps + ft_steps, 4))
        out[ratio] = {"params": pruned.num_parameters(), "removed": 1 - pruned.num_parameters() / base.num_parameters(),
                      "pruned": pruned_ppl, "fine_tuned": data.ppl(pruned), "scratch": data.ppl(scratch),
                      "config": f"d_model {pruned.config.d_model}, rank {pruned.config.rank}, attn_rank "
                                f"{pruned.config.attn_rank}, r_hidden {pruned.config.r_hidden}"}
    return out


def digits_pruning(seed):
    train_dl, test_dl = digits_loaders(seed)
    base = train(mlp([64, 512, 512, 10], seed), train_dl, 30)
    out = {"base": accuracy(base, test_dl)}
    for ratio in (0.5, 0.8):
        pruned = copy.deepcopy(base)
        p = ModelPruningPlugin({"pruning_method": "magnitude", "pruning_ratio": ratio})
        p.magnitude_pruning(pruned)
        p.fine_tune_pruned(pruned, train_dl, num_epochs=5, lr=5e-4)
        p.make_permanent(pruned)
        out[f"magnitude {ratio}"] = {"acc": accuracy(pruned, test_dl), "removed": ratio, "scratch": None}
    for ratio in (0.3, 0.5):
        pruned = copy.deepcopy(base)
        p = ModelPruningPlugin({"pruning_method": "structured", "pruning_ratio": ratio})
        p.structured_pruning(pruned, example_inputs=torch.randn(1, 64))
        p.fine_tune_pruned(pruned, train_dl, num_epochs=10, lr=5e-4)
        widths = [pruned[0].out_features, pruned[2].out_features]
        scratch = train(mlp([64, *widths, 10], seed + 300), train_dl, 40)  # same architecture, same epochs in all
        n0 = sum(p_.numel() for p_ in base.parameters())
        out[f"structured {ratio}"] = {"acc": accuracy(pruned, test_dl), "scratch": accuracy(scratch, test_dl),
                                      "removed": 1 - sum(p_.numel() for p_ in pruned.parameters()) / n0,
                                      "widths": widths}
    return out


# --- text --------------------------------------------------------------------------------------------
MINORITY_WORDS = ("error", "errors", "exception", "exceptions", "raise", "raised", "raises")


def corpus_sentences():
    from seetrain.apt.data import load_corpus

    parts = re.split(r"(?<=[.!?])\s+|\n\s*\n", load_corpus())
    sents = [" ".join(s.split()) for s in parts]
    sents = list(dict.fromkeys(s for s in sents if 5 <= len(s.split()) <= 60))
    return [{"text": s, "label": int(any(re.search(rf"\b{w}\b", s.lower()) for w in MINORITY_WORDS))}
            for s in sents]


def bench_data(seed=0):
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
        return {"records": len(records), "minority": sum(r["label"] for r in records),
                "recall": recall_score(gold, pred, pos_label=1),
                "precision": precision_score(gold, pred, pos_label=1, zero_division=0),
                "f1": f1_score(gold, pred, pos_label=1), "macro_f1": f1_score(gold, pred, average="macro")}

    base = evaluate("imbalanced training set as is", train_set)
    dp = DataProcessorsPlugin({"seed": seed})
    bal = evaluate("balance (oversample)", dp.process_pipeline(train_set, ["clean", "balance"]))
    dp = DataProcessorsPlugin({"seed": seed})
    steps = ["clean", "quality_check", ("augment", {"methods": ["synonym", "insert", "swap", "delete"]}),
             ("balance", {"method": "oversample", "augment": True})]
    both = evaluate("clean + quality + EDA augment + balance", dp.process_pipeline(train_set, steps))
    dp = DataProcessorsPlugin({"seed": seed})
    eda = evaluate("clean + quality + EDA augment (no balancing)", dp.process_pipeline(
        train_set, ["clean", "quality_check", ("augment", {"methods": ["eda"], "num_augment": 4})]))
    return {"as is": base, "balance": bal, "EDA augment": eda, "EDA augment + balance": both,
            "test_minority": sum(r["label"] for r in test_set), "test_size": len(test_set)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    ap.add_argument("--quick", action="store_true", help="2 seeds and short language-model runs (a smoke check)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    seeds = list(range(2 if args.quick else args.seeds))
    lm_steps = (60, 40, 20, 20) if args.quick else (600, 200, 400, 100)  # teacher, student, pruning base, fine-tune
    t0 = time.perf_counter()
    print(f"seeds {seeds}; every figure: mean ± std (min..max) over the seeds")

    dd = [digits_distillation(s) for s in seeds]
    ld = [lm_distillation(s, lm_steps[0], lm_steps[1]) for s in seeds]
    t, st = dd[0]["params"]
    lt, ls = ld[0]["params"]
    table("model-distillation: the student with KD vs the same student trained alone (same data, same steps)",
          ["setup", "params teacher -> student", "teacher", "student, KD", "student from scratch", "KD - scratch",
           "CPU speed-up"],
          [["digits MLP 64-256-256-10 -> 64-32-10, response KD (T=2, a=b=0.5), 60 epochs; accuracy",
            f"{t:,} -> {st:,}", spread([r["teacher"] for r in dd]), spread([r["kd"] for r in dd]),
            spread([r["scratch"] for r in dd]), spread([r["kd"] - r["scratch"] for r in dd]),
            spread([r["speedup"] for r in dd], "{:.1f}")],
           [f"APT LM d128x3 ({lm_steps[0]} steps) -> d48x2, {lm_steps[1]} steps, kl_divergence KD (T=2, a=b=0.5); "
            f"val perplexity", f"{lt:,} -> {ls:,}", spread([r["teacher"] for r in ld], "{:.2f}"),
            spread([r["kd"] for r in ld], "{:.2f}"), spread([r["scratch"] for r in ld], "{:.2f}"),
            spread([r["kd"] - r["scratch"] for r in ld], "{:.2f}"), spread([r["speedup"] for r in ld], "{:.1f}")]])

    dp_ = [digits_pruning(s) for s in seeds]
    lp = [lm_pruning(s, lm_steps[2], lm_steps[3]) for s in seeds]
    rows = [["digits MLP 64-512-512-10 (trained 30 epochs)", "-", "-", spread([r["base"] for r in dp_]), "-", "-"]]
    for key in ("magnitude 0.5", "magnitude 0.8", "structured 0.3", "structured 0.5"):
        name = (f"magnitude, unstructured {key.split()[1]}" if key.startswith("magnitude")
                else f"structured neurons {key.split()[1]}")
        if key.startswith("structured"):
            name += f" (hidden {dp_[0][key]['widths'][0]}/{dp_[0][key]['widths'][1]})"
        scratch = [r[key]["scratch"] for r in dp_]
        rows.append([name + "; accuracy", spread([r[key]["removed"] for r in dp_], "{:.3f}"), "-",
                     spread([r[key]["acc"] for r in dp_]),
                     spread(scratch) if scratch[0] is not None else "-",
                     spread([r[key]["acc"] - r[key]["scratch"] for r in dp_]) if scratch[0] is not None else "-"])
    rows.append([f"APT LM d128x3, {lm_steps[2]} steps; val perplexity", "-", "-",
                 spread([r["base"] for r in lp], "{:.2f}"), "-", "-"])
    for ratio in (0.3, 0.5):
        rows.append([f"APT LM structured {ratio:.0%} ({lp[0][ratio]['config']}); val perplexity; right after "
                     f"pruning {spread([r[ratio]['pruned'] for r in lp], '{:.1f}')}, then {lm_steps[3]} fine-tuning steps",
                     spread([r[ratio]["removed"] for r in lp], "{:.3f}"), f"{lp[0][ratio]['params']:,}",
                     spread([r[ratio]["fine_tuned"] for r in lp], "{:.2f}"),
                     spread([r[ratio]["scratch"] for r in lp], "{:.2f}"),
                     spread([r[ratio]["fine_tuned"] - r[ratio]["scratch"] for r in lp], "{:.2f}")])
    table(f"model-pruning: pruned + fine-tuned vs the pruned architecture trained from scratch for the same total "
          f"steps (digits: 40 epochs; APT LM: {lm_steps[2] + lm_steps[3]} steps)",
          ["setup", "params removed", "params left", "pruned + fine-tuned", "from scratch", "pruned - scratch"], rows)

    dr = [bench_data(s) for s in seeds]
    rows = []
    for key in ("as is", "balance", "EDA augment", "EDA augment + balance"):
        rows.append([key, f"{dr[0][key]['records']}", spread([r[key]["recall"] for r in dr], "{:.3f}"),
                     spread([r[key]["f1"] for r in dr], "{:.3f}"), spread([r[key]["macro_f1"] for r in dr], "{:.3f}")])
    table(f"data-processors: TF-IDF + logistic regression, APT corpus sentences mentioning errors/exceptions as the "
          f"minority (test {dr[0]['test_minority']}/{dr[0]['test_size']}); 'as is' is the baseline",
          ["training data", "records (seed 0)", "minority recall", "minority F1", "macro F1"], rows)
    print(f"\ntotal time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

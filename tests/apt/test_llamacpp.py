"""GGUF files loaded in REAL llama.cpp (the npm package node-llama-cpp, prebuilt CPU binaries).

Tiny Llama models built from configs (seeded random init, trained until they memorise 1,500 characters
of the shipped corpus so greedy decoding of a prompt from it is varied and confident), tokenizers trained here (SentencePiece BPE with byte fallback; a
byte-level BPE with the tokenizers library), saved as Transformers and llama.cpp's converter keep them,
exported with ``write_gguf`` and run by llama.cpp. Checks: llama.cpp's tokenizer gives Transformers' ids;
F16 gives Transformers' greedy tokens exactly; quantised files give them at every confident position
(see ``agreement`` and ``NEAR_TIE``). Install: ``bash scripts/install_llamacpp.sh`` (scripts/test.sh does it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Tuple

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gguf")
pytest.importorskip("transformers")
spm = pytest.importorskip("sentencepiece")
tokenizers = pytest.importorskip("tokenizers")

from seetrain.apt.plugins import llamacpp  # noqa: E402
from seetrain.apt.plugins.gguf_convert import read_metadata, read_tensors, write_gguf  # noqa: E402
from tests._services import require_or_skip  # noqa: E402

_WHY = llamacpp.why_unavailable()
needs_llamacpp = pytest.mark.needs_service(None if _WHY is None else f"llama.cpp not available: {_WHY}")  # skips; fails in CI

TEXTS = ["Return the value of the function.", "the default is None; if the object is a list"]
PROMPT = "You can also register unrelated"   # from the text the models memorise (see _memorised)
N_GEN = 16
# Quantised weights move the logits a little, so a quantised model may pick the other token where
# Transformers' top-1 margin (top-1 minus top-2 logit) is tiny. The rule (see ``agreement``): walk the
# greedy continuation; at a position whose Transformers margin is at least NEAR_TIE[q] the tokens must be
# equal; at a near-tie (margin below NEAR_TIE[q]) a different token is allowed, and llama.cpp is then
# restarted from Transformers' text up to and including that position (teacher forcing at near-ties), so
# every confident position of the continuation is checked with the same context on both sides. F16 has
# no tolerance: every token must match. The tolerances are logit differences a quantisation of that
# width may move (4-bit types the most). Seen: Q4_0 flips at Transformers margins 0.045 (byte-level BPE
# model, transformers 5.25) and 0.503 (SentencePiece model, both 5.24 and 5.25); no flip at a margin of
# 1.2 or more, in any type; Q8_0 and Q6_K never flipped. A flip above the tolerance is an export bug.
# The models are trained until confident; a continuation must be varied (>= 3 distinct tokens) with at
# least MIN_CONFIDENT confident positions, so the check cannot pass trivially.
NEAR_TIE = {"F16": 0.0, "Q8_0": 0.15, "Q6_K": 0.3, "Q4_K_M": 1.0, "Q4_0": 1.0}
MIN_CONFIDENT = 8


class Agreement(NamedTuple):
    """How a quantised continuation compares with Transformers' greedy one from one starting point."""

    compared: int              # positions walked (from the start) while both had produced the same text
    ended_at_near_tie: bool    # the walk stopped at an allowed flip (a near-tie)
    wrong: Optional[int]       # the first confident position where the tokens differ (None: none)


def agreement(got: List[int], want: List[int], margins: List[float], tolerance: float, start: int = 0) -> Agreement:
    """Compare ``got`` (llama.cpp's tokens from position ``start`` on) with ``want[start:]``."""
    for i, (a, b) in enumerate(zip(got, want[start:]), start):
        if a == b:
            continue
        if margins[i] < tolerance:
            return Agreement(i, True, None)
        return Agreement(i, False, i)
    n = start + min(len(got), len(want) - start)
    return Agreement(n, False, None if n >= len(want) else n)


def agreement_with_restarts(got: List[int], want: List[int], margins: List[float], tolerance: float,
                            regenerate: Callable[[int], List[int]]) -> Tuple[Agreement, List[int]]:
    """:func:`agreement` over the whole continuation: after an allowed flip at position i, ``regenerate(i + 1)``
    gives llama.cpp's tokens from Transformers' text ``want[:i + 1]`` on. Returns the last walk and the
    positions where a near-tie flip was allowed."""
    flips: List[int] = []
    start = 0
    while True:
        ag = agreement(got, want, margins, tolerance, start)
        if not ag.ended_at_near_tie:
            return ag, flips
        flips.append(ag.compared)
        start = ag.compared + 1
        if start >= len(want):
            return Agreement(len(want), False, None), flips
        got = regenerate(start)


def _corpus() -> str:
    from seetrain.apt.data.corpus import load_corpus

    return load_corpus(max_chars=20000)


def _memorised() -> str:
    """The first 1,500 characters of the corpus: trained on until memorised, so greedy decoding of a prompt
    from it is varied and confident (an untrained or lightly trained model repeats one frequent token)."""
    return _corpus()[:1500]


def _train(model, ids, steps: int = 150, seq: int = 48, batch: int = 4, lr: float = 3e-3):
    """Next-token training until the text is memorised (top-1 margins well above quantisation noise)."""
    torch.manual_seed(0)
    data = torch.tensor(ids)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(data) - seq - 1, (batch,))
        x = torch.stack([data[s:s + seq] for s in starts.tolist()])
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval()


def _llama(vocab: int, hidden: int, inter: int, bos: int, eos: int, layers: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      rms_norm_eps=1e-5, bos_token_id=bos, eos_token_id=eos, tie_word_embeddings=False)
    return LlamaForCausalLM(cfg)


@torch.no_grad()
def _greedy(model, prompt_ids, n=N_GEN):
    """Transformers' greedy continuation and the top-1 minus top-2 logit margin at each step."""
    ids, margins = list(prompt_ids), []
    for _ in range(n):
        logits = model(torch.tensor([ids])).logits[0, -1]
        top = torch.topk(logits, 2)
        margins.append(round(float(top.values[0] - top.values[1]), 3))
        ids.append(int(top.indices[0]))
    return ids[len(prompt_ids):], margins


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("llamacpp")


@pytest.fixture(scope="module")
def spm_setup(workdir):
    """A SentencePiece BPE tokenizer.model (byte fallback) and a Llama trained on its ids (widths of 256 so
    K-quants apply to every matrix)."""
    corpus = workdir / "corpus.txt"
    corpus.write_text(_corpus(), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(workdir / "spm"), vocab_size=400,
                                   model_type="bpe", byte_fallback=True, character_coverage=0.995, bos_id=1,
                                   eos_id=2, unk_id=0, pad_id=-1, minloglevel=2, num_threads=1)
    sp = spm.SentencePieceProcessor(model_file=str(workdir / "spm.model"))
    model = _train(_llama(400, 256, 256, 1, 2, layers=1), sp.encode(_memorised()))
    return model, workdir / "spm.model"


@pytest.fixture(scope="module")
def spm_dirs(spm_setup, workdir):
    """The three directory forms: tokenizer.model alone (llama.cpp's converter input), tokenizer.model with
    the tokenizer.json Transformers 5 writes, and Transformers' own save (tokenizer.json only)."""
    from transformers import AutoTokenizer

    model, sp_file = spm_setup
    only = workdir / "spm-model-only"
    model.save_pretrained(only)
    shutil.copy(sp_file, only / "tokenizer.model")
    hf_tok = AutoTokenizer.from_pretrained(str(only))  # Transformers converts tokenizer.model
    both = workdir / "spm-model-and-json"
    model.save_pretrained(both)
    shutil.copy(sp_file, both / "tokenizer.model")
    hf_tok.save_pretrained(both)
    json_only = workdir / "spm-json-only"
    model.save_pretrained(json_only)
    hf_tok.save_pretrained(json_only)
    assert (both / "tokenizer.json").is_file() and not (json_only / "tokenizer.model").exists()
    return {"model-only": only, "model+json": both, "json-only": json_only}


@pytest.fixture(scope="module")
def bpe_dir(workdir):
    """A byte-level BPE (GPT-2 style) tokenizer.json with merges, and a Llama trained on its ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    text = _corpus()
    tok.train_from_iterator([text[i:i + 2000] for i in range(0, len(text), 2000)], trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    model = _train(_llama(len(hf), 256, 256, hf.bos_token_id, hf.eos_token_id, layers=1), hf(_memorised()).input_ids)
    out = workdir / "bpe"
    model.save_pretrained(out)
    hf.save_pretrained(out)
    assert json.loads((out / "tokenizer.json").read_text())["model"]["merges"]
    return out


def test_spm_directories_export_with_their_tokenizer(spm_dirs):
    """The two failures of the issue: tokenizer.model alone ('no tokenizer given ... not the byte vocabulary')
    and beside tokenizer.json ('this BPE tokenizer has no merges')."""
    for kind, path in spm_dirs.items():
        res = write_gguf(path, path / "f16.gguf", "F16")
        meta = read_metadata(res.path)
        assert meta["tokenizer.ggml.model"] == "llama", kind
        assert len(meta["tokenizer.ggml.tokens"]) == 400, kind
        assert meta["tokenizer.ggml.tokens"][3:6] == ["<0x00>", "<0x01>", "<0x02>"], kind
        assert meta["tokenizer.ggml.add_space_prefix"] is True, kind


@pytest.fixture(scope="module")
def llamacpp_results(spm_dirs, bpe_dir, spm_setup):
    """Every GGUF file of this module run in ONE llama.cpp process; {(dir kind, quantisation): result}."""
    if _WHY is not None:
        require_or_skip(f"llama.cpp not available: {_WHY}")
    from transformers import AutoTokenizer

    dirs = dict(spm_dirs, bpe=bpe_dir)
    plan = {kind: ["F16", "Q8_0", "Q4_0"] for kind in dirs}
    plan["model-only"] += ["Q4_K_M", "Q6_K"]
    jobs, keys, expected = [], [], {}
    for kind, path in dirs.items():
        tok = AutoTokenizer.from_pretrained(str(path))
        bos = tok.bos_token_id
        prompt = [bos] + tok(PROMPT, add_special_tokens=False).input_ids
        model = spm_setup[0] if kind != "bpe" else _load(path)
        expected[kind] = {"texts": [tok(t, add_special_tokens=False).input_ids for t in TEXTS],
                          "greedy": _greedy(model, prompt), "prompt": prompt}
        for q in plan[kind]:
            out = write_gguf(path, path / f"{q.lower()}.gguf", q)
            jobs.append({"model": out.path, "texts": TEXTS, "prompt_ids": prompt, "n_tokens": N_GEN})
            keys.append((kind, q))
    results = llamacpp.run_llamacpp_many(jobs, timeout=240)
    return {k: dict(r, job=j) for k, r, j in zip(keys, results, jobs)}, expected


def _load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path)).eval()


@needs_llamacpp
@pytest.mark.parametrize("kind", ["model-only", "model+json", "json-only", "bpe"])
def test_llamacpp_tokenizes_like_transformers(llamacpp_results, kind):
    results, expected = llamacpp_results
    for (k, q), res in results.items():
        if k == kind:
            assert res["tokenized"] == expected[kind]["texts"], (kind, q)


@needs_llamacpp
@pytest.mark.parametrize("kind", ["model-only", "model+json", "json-only", "bpe"])
def test_llamacpp_greedy_tokens_match_transformers(llamacpp_results, kind):
    results, expected = llamacpp_results
    want, margins = expected[kind]["greedy"]
    assert len(set(want)) >= 3, f"degenerate greedy continuation {want}: the check would be too easy"
    for (k, q), res in results.items():
        if k != kind:
            continue
        tol = NEAR_TIE[q]
        confident = sum(m >= tol for m in margins)
        assert confident >= MIN_CONFIDENT, f"{kind}: Transformers' margins {margins} have too few positions above " \
                                           f"{tol} for a fair {q} check"

        def regenerate(n: int, job=res["job"]) -> List[int]:
            again = dict(job, prompt_ids=list(job["prompt_ids"]) + want[:n], n_tokens=len(want) - n)
            return llamacpp.run_llamacpp_many([again], timeout=120)[0]["generated"]

        ag, flips = agreement_with_restarts(res["generated"], want, margins, tol, regenerate)
        print(f"{kind} {q}: llama.cpp {res['generated']} vs Transformers {want}: near-tie flips allowed at {flips}, "
              f"every other position agrees: {ag.wrong is None} (margins {margins})")
        assert ag.wrong is None, f"{kind} {q}: llama.cpp differs from Transformers {want} at position {ag.wrong}, " \
                                 f"whose Transformers top-1 margin {margins[ag.wrong]} is not a near-tie (< {tol}); " \
                                 f"near-tie flips before it: {flips}"


def test_agreement_rule_allows_only_near_tie_flips():
    """The comparison rule itself, on constructed continuations (no llama.cpp needed)."""
    want, margins = [5, 6, 7, 8, 9], [2.0, 1.5, 0.04, 1.0, 1.0]
    assert agreement([5, 6, 7, 8, 9], want, margins, 0.0) == Agreement(5, False, None)
    assert agreement([5, 6, 3, 1, 1], want, margins, 0.5) == Agreement(2, True, None)    # the near-tie flipped
    assert agreement([5, 6, 3, 1, 1], want, margins, 0.0).wrong == 2                     # F16: no tolerance
    assert agreement([5, 4, 7, 8, 9], want, margins, 0.5).wrong == 1                     # a confident flip
    assert agreement([5, 6], want, margins, 0.5).wrong == 2                              # cut short
    assert agreement([8, 9], want, margins, 0.5, start=3) == Agreement(5, False, None)   # a restarted walk
    # after the allowed flip at 2, llama.cpp restarts from want[:3]: a confident flip there is still caught
    asked = []
    ag, flips = agreement_with_restarts([5, 6, 3, 1, 1], want, margins, 0.5, lambda n: asked.append(n) or [8, 1])
    assert (ag.wrong, flips, asked) == (4, [2], [3])
    ag, flips = agreement_with_restarts([5, 6, 3, 1, 1], want, margins, 0.5, lambda n: want[n:])
    assert (ag.wrong, flips) == (None, [2])


@needs_llamacpp
def test_k_quants_are_written_by_llamacpps_quantiser(llamacpp_results, spm_dirs):
    """Q4_K_M and Q6_K exist only through llama.cpp's quantiser (gguf-py cannot write them): the matrices
    are really K-quant blocks, smaller than Q8_0, and llama.cpp runs them (checked above)."""
    path = spm_dirs["model-only"]
    sizes = {q: (path / f"{q.lower()}.gguf").stat().st_size for q in ("F16", "Q8_0", "Q4_K_M", "Q6_K")}
    assert sizes["Q4_K_M"] < sizes["Q6_K"] < sizes["Q8_0"] < sizes["F16"]
    types = {n: t for n, (t, _) in read_tensors(path / "q4_k_m.gguf").items()}
    assert types["blk.0.ffn_up.weight"] == "Q4_K" and types["blk.0.attn_norm.weight"] == "F32"
    assert read_metadata(path / "q6_k.gguf")["general.file_type"] == 18  # LLAMA_FTYPE_MOSTLY_Q6_K


@needs_llamacpp
def test_apt_to_ollama_through_a_llama_student(tmp_path, logdir):
    """llama.cpp has no APT architecture: export_to_ollama distils the APT model into a Llama student (the
    distillation plugin's KD loss), writes that as GGUF + Modelfile; an Ollama-like server (tests/apt/
    ollama_server.py, running llama.cpp; not a real Ollama) creates and runs it."""
    import seetrain
    from transformers import LlamaForCausalLM

    from seetrain.apt.data import ByteTokenizer
    from seetrain.apt.model import APTConfig, APTLanguageModel
    from seetrain.apt.plugins.ollama_export import OllamaExportPlugin
    from tests.apt.ollama_server import OllamaLikeServer

    text = _corpus()
    torch.manual_seed(0)
    teacher = APTLanguageModel(APTConfig(vocab_size=259, d_model=64, n_heads=4, n_layers=2, rank=16, max_seq_len=64))
    _train(teacher, ByteTokenizer().encode(text), steps=60)
    run = seetrain.init(project="apt-ollama")
    plugin = OllamaExportPlugin(run=run)
    with pytest.raises(ValueError, match="distill_text"):  # no silent APT file Ollama would refuse
        plugin.export_to_ollama(teacher, "apt-tiny", "Q8_0", output_dir=tmp_path / "refused")
    files = plugin.export_to_ollama(teacher, "apt-tiny", "Q8_0", output_dir=tmp_path / "out", distill_text=text,
                                    distill_steps=60)
    report = files["distilled"]
    assert files["architecture"] == "llama" and read_metadata(files["gguf"])["general.architecture"] == "llama"
    assert report["kd_loss_end"] < 0.6 * report["kd_loss_start"], report  # the student moved toward the teacher
    assert report["top1_agreement"] > 0.4, report
    student = LlamaForCausalLM.from_pretrained(report["student_dir"]).eval()
    prompt = "The function returns"
    want, margins = _greedy(student, ByteTokenizer().encode(prompt), 12)
    with OllamaLikeServer(tmp_path / "blobs") as server:
        plugin.register_to_ollama("apt-tiny", files["modelfile"], host=server.host)
        assert "apt-tiny" in plugin.list_models(host=server.host)
        answer = plugin.test_model("apt-tiny", prompt, host=server.host, options={"num_predict": 12})
    assert answer["eval_count"] == 12
    got = ByteTokenizer().encode(answer["response"])[:len(want)]  # byte ids: the answer text re-encoded
    ag = agreement(got, want, margins, NEAR_TIE["Q8_0"])
    assert ag.wrong is None, (answer["response"], ByteTokenizer().decode(want), margins, ag)
    run.finish()
    keys = seetrain.read_run(run.dir).keys()
    assert "distill_llama/top1_agreement" in keys and "ollama/tokens_per_second" in keys

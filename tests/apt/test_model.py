"""The VFT/TVA model: shapes, masking, the vein distance, compensation, generation and save/load."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from seetrain.apt.data import ByteTokenizer, load_corpus, split_ids, unigram_cross_entropy  # noqa: E402
from seetrain.apt.model import (  # noqa: E402
    APTConfig, APTLanguageModel, NormalCompensator, StandardLanguageModel, TVAAttention, VeinProjector, VFTBlock,
    filter_logits,
)

torch.set_num_threads(1)

GRID = [  # (d_model, n_heads, rank): rank < d_head, == d_head, > d_head, odd sizes, rank == d_model
    (32, 4, 4), (32, 4, 8), (32, 4, 16), (24, 3, 5), (16, 1, 16), (32, 8, 3),
]


def tiny(cls=APTLanguageModel, **kw):
    torch.manual_seed(0)
    base = dict(vocab_size=259, d_model=32, n_heads=4, n_layers=2, rank=8, max_seq_len=24)
    base.update(kw)
    return cls(APTConfig(**base)).eval()


@pytest.mark.parametrize("d_model,n_heads,rank", GRID)
@pytest.mark.parametrize("cls", [APTLanguageModel, StandardLanguageModel])
def test_shapes_for_every_width_head_rank_combination(cls, d_model, n_heads, rank):
    model = tiny(cls, d_model=d_model, n_heads=n_heads, rank=rank)
    x = torch.randint(0, 256, (2, 11))
    out = model(x, labels=x, output_hidden_states=True, output_attentions=True)
    assert out.logits.shape == (2, 11, 259)
    assert len(out.hidden_states) == 3 and all(h.shape == (2, 11, d_model) for h in out.hidden_states)
    assert len(out.attentions) == 2 and all(a.shape == (2, n_heads, 11, 11) for a in out.attentions)
    assert torch.allclose(out.attentions[0].sum(-1), torch.ones(2, n_heads, 11), atol=1e-5)
    assert len(out.block_stats) == 2 and math.isfinite(float(out.loss.detach()))
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    # the SDPA fast path and the explicit path agree
    fast = model(x).logits
    assert torch.allclose(fast, out.logits, atol=1e-5)
    if cls is APTLanguageModel:
        d_head = d_model // n_heads
        attn = model.blocks[0].attn
        assert attn.head_rank == min(rank, d_head)
        assert attn.V.shape == (n_heads, min(rank, d_head), d_head)
        assert attn.U.shape == (n_heads, d_head, min(rank, d_head))
        assert set(out.block_stats[0]) == {"eps_mean", "over_tau"}
        assert 0.0 <= float(out.block_stats[0]["over_tau"]) <= 1.0


@pytest.mark.parametrize("rank", [2, 8, 12])
def test_tva_attention_alone(rank):
    torch.manual_seed(0)
    attn = TVAAttention(d_model=32, n_heads=4, rank=rank)
    x = torch.randn(3, 7, 32)
    y, probs = attn(x, output_attentions=True)
    assert y.shape == (3, 7, 32) and probs.shape == (3, 4, 7, 7)
    # the per-head projectors start orthonormal: V_h V_h^T = I
    eye = torch.eye(attn.head_rank).expand(4, -1, -1)
    assert torch.allclose(attn.V @ attn.V.transpose(1, 2), eye, atol=1e-5)


def test_config_rejects_bad_sizes_with_a_clear_message():
    with pytest.raises(ValueError, match="not divisible by n_heads"):
        APTConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="exceeds d_model"):
        APTConfig(d_model=16, n_heads=2, rank=32)
    with pytest.raises(ValueError, match="unknown APTConfig field"):
        APTConfig.from_dict({"d_model": 32, "n_heads": 4, "rank": 8, "nheads": 2})
    cfg = APTConfig(d_model=32, n_heads=4, rank=8)
    assert APTConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("cls", [APTLanguageModel, StandardLanguageModel])
@pytest.mark.parametrize("explicit", [False, True])
def test_causal_mask_prevents_looking_ahead(cls, explicit):
    model = tiny(cls)
    x = torch.randint(0, 256, (1, 12))
    y = x.clone()
    y[0, 7:] = (y[0, 7:] + 1) % 256  # change only the future
    a = model(x, output_attentions=explicit).logits
    b = model(y, output_attentions=explicit).logits
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-5)
    assert not torch.allclose(a[:, 7:], b[:, 7:], atol=1e-3)
    if explicit:
        probs = model(x, output_attentions=True).attentions[0]
        assert float(probs.detach().triu(diagonal=1).abs().max()) == 0.0


@pytest.mark.parametrize("cls", [APTLanguageModel, StandardLanguageModel])
def test_padding_mask_hides_padded_keys(cls):
    model = tiny(cls)
    x = torch.randint(0, 256, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[0, :3] = 0  # left padding in row 0
    y = x.clone()
    y[0, :3] = torch.tensor([5, 6, 7])  # different padding content
    for explicit in (False, True):
        a = model(x, attention_mask=mask, output_attentions=explicit).logits
        b = model(y, attention_mask=mask, output_attentions=explicit).logits
        assert torch.allclose(a[0, 3:], b[0, 3:], atol=1e-5)  # real tokens do not see the pads
        assert torch.allclose(a[1], b[1], atol=1e-5)
    # without the mask the padding content leaks into later positions
    assert not torch.allclose(model(x).logits[0, 3:], model(y).logits[0, 3:], atol=1e-4)
    probs = model(x, attention_mask=mask, output_attentions=True).attentions[0]
    assert float(probs.detach()[0, :, 3:, :3].abs().max()) == 0.0
    assert torch.isfinite(model(x, attention_mask=mask).logits).all()  # pad queries give no NaN


def test_eps_is_the_off_plane_distance():
    torch.manual_seed(0)
    vein = VeinProjector(16, 4)
    h = torch.randn(3, 5, 16)
    manual = (h - h @ vein.V.t() @ vein.U.t()).norm(dim=-1)
    assert torch.allclose(vein.distance(h), manual, atol=1e-6)
    # at initialisation U V is the orthogonal projector onto the subspace
    assert torch.allclose(vein.V @ vein.V.t(), torch.eye(4), atol=1e-5)
    on_plane = vein.reconstruct(torch.randn(7, 4))
    assert float(vein.distance(on_plane).detach().max()) < 1e-5
    basis = torch.linalg.svd(vein.V, full_matrices=True).Vh[4:]  # orthogonal complement
    normal = torch.randn(7, 12) @ basis
    assert torch.allclose(vein.distance(normal), normal.norm(dim=-1), atol=1e-5)
    assert vein.project(h).shape == (3, 5, 4) and vein.reconstruct(vein.project(h)).shape == h.shape
    # the orthogonality penalty is zero for a projector and grows when U, V drift apart
    assert float(vein.orthogonality_penalty().detach()) < 1e-10
    with torch.no_grad():
        vein.U.mul_(2.0)
    assert float(vein.orthogonality_penalty().detach()) > 1.0
    with pytest.raises(ValueError):
        VeinProjector(8, 9)


def test_compensator_only_acts_over_tau():
    torch.manual_seed(0)
    comp = NormalCompensator(16, s=3, tau=1.0, alpha_scale=0.5)
    h = torch.randn(2, 6, 16)
    eps = torch.tensor([[0.5, 2.0, 1.0, 3.0, 0.0, 1.01]] * 2)
    with torch.no_grad():
        delta, over = comp(h, eps)
    assert over.tolist()[0] == [False, True, False, True, False, True]
    assert float(delta[~over].abs().max()) == 0.0
    alpha = (torch.sigmoid(comp.gate(h)) * 0.5).detach()
    manual = torch.einsum("btj,jd->btd", alpha * (h @ comp.v.t()), comp.u).detach()
    assert torch.allclose(delta[over], manual[over], atol=1e-6)
    assert float(delta[over].abs().min()) >= 0.0 and float(delta[over].abs().max()) > 0.0
    assert float(alpha.max()) <= 0.5


def test_block_statistics_follow_tau():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 32)
    low = VFTBlock(APTConfig(d_model=32, n_heads=4, rank=8, tau=0.0))
    high = VFTBlock(APTConfig(d_model=32, n_heads=4, rank=8, tau=10.0))
    high.load_state_dict(low.state_dict())
    with torch.no_grad():  # eps is measured before LN2's learned gain
        low.ln2.weight.mul_(3.0)
        high.ln2.weight.mul_(3.0)
    y_low, _, s_low = low(x)
    y_high, _, s_high = high(x)
    assert float(s_low["over_tau"]) == 1.0 and float(s_high["over_tau"]) == 0.0
    assert torch.isclose(s_low["eps_mean"], s_high["eps_mean"])
    unit = torch.nn.functional.layer_norm(x + low.attn(low.ln1(x))[0], (32,))
    eps = low.vein.distance(unit).detach()
    assert torch.isclose(s_low["eps_mean"], eps.mean(), atol=1e-5)
    assert float(eps.max()) <= math.sqrt(32) + 1e-4  # a projector's residual is at most ||unit|| = sqrt(d)
    # with no token over tau the block is exactly TVA + FFN
    h = x + high.attn(high.ln1(x))[0]
    assert torch.allclose(y_high, h + high.ffn(high.ln2(h)), atol=1e-5)
    assert not torch.allclose(y_low, y_high, atol=1e-6)


@pytest.mark.parametrize("cls", [APTLanguageModel, StandardLanguageModel])
def test_generate_modes(cls):
    model = tiny(cls)
    prompt = torch.randint(0, 256, (2, 4))
    greedy = model.generate(prompt, max_new_tokens=6)
    assert greedy.shape == (2, 10) and torch.equal(greedy[:, :4], prompt)
    # greedy is the step-by-step argmax
    ids = prompt
    for _ in range(6):
        ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(ids, greedy)
    assert torch.equal(model.generate(prompt, 6, do_sample=True, top_k=1), greedy)
    assert torch.equal(model.generate(prompt, 6, do_sample=True, top_p=1e-6), greedy)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    s1 = model.generate(prompt, 6, do_sample=True, temperature=1.5, top_k=50, top_p=0.9, generator=g1)
    s2 = model.generate(prompt, 6, do_sample=True, temperature=1.5, top_k=50, top_p=0.9, generator=g2)
    assert torch.equal(s1, s2) and s1.shape == (2, 10)
    long = model.generate(prompt, max_new_tokens=30)  # longer than max_seq_len: context is cropped
    assert long.shape == (2, 34)
    eos = int(greedy[0, 4])
    stopped = model.generate(prompt[:1], max_new_tokens=6, eos_token_id=eos)
    assert stopped.shape == (1, 5) and int(stopped[0, -1]) == eos
    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, 2, do_sample=True, temperature=0)


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.5)).tolist() == [[False, True, True, True]]


@pytest.mark.parametrize("cls", [APTLanguageModel, StandardLanguageModel])
def test_save_load_round_trip_gives_identical_logits(cls, tmp_path):
    model = tiny(cls)
    with torch.no_grad():  # move away from the initial values
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    x = torch.randint(0, 256, (2, 9))
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").stat().st_size > 0
    loaded = cls.from_pretrained(tmp_path / "m").eval()
    assert type(loaded) is cls and loaded.config == model.config
    assert torch.equal(model(x).logits, loaded(x).logits)
    assert loaded.lm_head.weight is loaded.tok_emb.weight  # tying survives
    assert loaded.num_parameters() == model.num_parameters()


def test_baseline_has_the_same_interface():
    apt, std = tiny(APTLanguageModel), tiny(StandardLanguageModel)
    x = torch.randint(0, 256, (1, 6))
    a, s = apt(x, labels=x), std(x, labels=x)
    assert a.logits.shape == s.logits.shape and a.loss.shape == s.loss.shape == ()
    assert s.block_stats == [{}, {}]
    for name in ("generate", "save_pretrained", "from_pretrained", "num_parameters"):
        assert callable(getattr(std, name)) and callable(getattr(apt, name))
    assert apt.num_parameters() < std.num_parameters()  # the low-rank model is smaller


def test_aux_loss_is_the_weighted_vein_penalty():
    model = tiny(vein_reg=0.5)
    with torch.no_grad():
        model.blocks[0].vein.V.mul_(1.5)
    x = torch.randint(0, 256, (1, 8))
    out = model(x, labels=x)
    expected = 0.5 * sum(float(b.vein.orthogonality_penalty().detach()) for b in model.blocks)
    assert expected > 0 and math.isclose(float(out.aux_loss.detach()), expected, rel_tol=1e-5)
    assert model(x).aux_loss is None and tiny(vein_reg=0.0)(x, labels=x).aux_loss is None
    assert tiny(StandardLanguageModel)(x, labels=x).aux_loss is None


def test_loss_ignores_minus_100_labels():
    model = tiny()
    x = torch.randint(0, 256, (1, 8))
    labels = x.clone()
    labels[0, 1:5] = -100
    logits = model(x).logits
    manual = torch.nn.functional.cross_entropy(logits[0, 4:7], x[0, 5:8])
    assert torch.isclose(model(x, labels=labels).loss, manual, atol=1e-5)


def test_byte_tokenizer_and_corpus(tmp_path):
    tok = ByteTokenizer()
    text = "Grüße, world!\n"
    ids = tok.encode(text, add_bos=True, add_eos=True)
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id and max(ids) < tok.vocab_size == 259
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=False).startswith("<bos>")
    tok.save(tmp_path)
    assert ByteTokenizer.load(tmp_path).encode(text) == tok.encode(text)
    corpus = load_corpus()
    assert 100_000 <= len(corpus.encode()) <= 300_000 and corpus.count(" the ") > 500
    train, val = split_ids(tok.encode(corpus))
    assert 2.5 < unigram_cross_entropy(train, val, 259) < math.log(259)
    assert len(load_corpus(max_chars=1000)) == 1000

"""Structured pruning of the APT language models by exact slicing, so that the pruned model is again a
plain :class:`APTLanguageModel` / :class:`StandardLanguageModel` whose ``APTConfig`` describes it (it saves
and loads with ``save_pretrained`` / ``from_pretrained``, runs ``forward`` and ``generate``).

Targets (each width shrinks by ``ratio``; the same count in every block, so one config describes it):

* ``d_model``: residual channels (embeddings, every LayerNorm, Q/K/V rows per head, the output
  projection, the stabiliser, vein and compensator columns) and with them each head's width; for the
  standard model its MLP width (``ffn_mult * d_model``) too. Kept a multiple of ``n_heads``.
* ``ffn``: the VFT feed-forward hidden width (``r_hidden``).
* ``vein_rank``: the vein subspace (``rank``: ``V``/``U`` and the FFN's input/output in the subspace).
* ``attn_rank``: each head's attention subspace (``attn_rank``; ``V_h``/``U_h`` rescaled so the kept
  directions give the same scores).
* ``normals``: the compensator's normal directions (``s_normals``).
* ``layers``: whole blocks, those that change the residual stream least (1 - cosine of input and output).

Importance: channels by their mean absolute activation on the calibration batch (the residual stream at
every block input and before the final norm), every other unit by the product of the weight norms of its
way in and its way out. Whole attention heads are not removed: ``APTConfig`` ties the attention width to
``d_model`` (``n_heads * d_head == d_model``), so fewer heads cannot be described; ``d_model`` pruning
narrows every head instead.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch

APT_TARGETS = ("d_model", "ffn", "vein_rank", "attn_rank", "normals", "layers")
STANDARD_TARGETS = ("d_model", "layers")


def _keep(n: int, ratio: float, multiple: int = 1, minimum: int = 1) -> int:
    k = int(round((1.0 - ratio) * n))
    k = (k // multiple) * multiple
    return max(minimum, min(n, k))


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    return torch.topk(scores.float(), k).indices.sort().values


def _rownorm(w: torch.Tensor, dim: int = 1) -> torch.Tensor:
    return w.detach().float().norm(dim=dim)


@torch.no_grad()
def _activations(model, inputs: torch.Tensor) -> Dict[str, Any]:
    """Residual-stream channel importance and each block's input/output (for layer importance)."""
    xs: List[torch.Tensor] = []
    hooks = [b.register_forward_hook(lambda m, a, out: xs.append((a[0].detach(), out[0].detach())))
             for b in model.blocks]
    try:
        model(inputs)
    finally:
        for h in hooks:
            h.remove()
    chan = sum(x_in.abs().mean(dim=(0, 1)) for x_in, _ in xs) + xs[-1][1].abs().mean(dim=(0, 1))
    change = [1.0 - float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()) for a, b in xs]
    return {"channels": chan, "layer_change": change}


def prune_lm_structure(model, ratio: float, targets: Optional[Sequence[str]] = None,
                       inputs: Optional[torch.Tensor] = None) -> Dict[str, Any]:
    """Shrink ``model`` (an APT or standard LM) in place by ``ratio`` along ``targets``; return a report."""
    from seetrain.apt.model import APTConfig

    kind = getattr(model, "model_type", None)
    allowed = APT_TARGETS if kind == "apt" else STANDARD_TARGETS
    targets = list(targets if targets is not None else [t for t in allowed if t != "layers"])
    bad = [t for t in targets if t not in allowed]
    if bad:
        raise ValueError(f"structured_targets {bad} cannot be pruned in a {kind!r} model; choose from {list(allowed)}")
    c = model.config
    H = c.n_heads
    before = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    if inputs is None:
        inputs = torch.randint(0, c.vocab_size, (4, min(32, c.max_seq_len)), generator=torch.Generator().manual_seed(0))
    inputs = inputs[:, :c.max_seq_len].to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    act = _activations(model, inputs)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}

    layers = list(range(c.n_layers))
    if "layers" in targets:
        n_keep = _keep(c.n_layers, ratio)
        order = sorted(layers, key=lambda i: act["layer_change"][i], reverse=True)[:n_keep]
        layers = sorted(order)
    d_new = _keep(c.d_model, ratio, multiple=H, minimum=H) if "d_model" in targets else c.d_model
    keep_d = _top(act["channels"], d_new)
    dh, dh_new = c.d_model // H, d_new // H
    new: Dict[str, Any] = {"d_model": d_new, "n_layers": len(layers)}
    if kind == "apt":
        r, rh, ra, s = c.rank, c.ffn_rank_hidden, c.head_rank, c.s_normals
        r_new = min(_keep(r, ratio) if "vein_rank" in targets else r, d_new)
        rh_new = _keep(rh, ratio) if "ffn" in targets else rh
        ra_new = min(_keep(ra, ratio) if "attn_rank" in targets else ra, dh_new)
        s_new = _keep(s, ratio, minimum=0) if "normals" in targets else s
        new.update(rank=r_new, r_hidden=rh_new, attn_rank=ra_new, s_normals=s_new)
    else:
        f_new = c.ffn_mult * d_new
        new.update(rank=min(c.rank, d_new), attn_rank=min(c.attn_rank, d_new))  # unused by the baseline
    out: Dict[str, torch.Tensor] = {}
    for k in ("tok_emb.weight", "pos_emb.weight", "lm_head.weight"):
        if k in sd:
            out[k] = sd[k][:, keep_d]
    out["ln_f.weight"], out["ln_f.bias"] = sd["ln_f.weight"][keep_d], sd["ln_f.bias"][keep_d]
    for new_i, old_i in enumerate(layers):
        p, q = f"blocks.{old_i}.", f"blocks.{new_i}."
        g = lambda name: sd[p + name]  # noqa: E731
        for ln in ("ln1", "ln2"):
            out[q + ln + ".weight"], out[q + ln + ".bias"] = g(ln + ".weight")[keep_d], g(ln + ".bias")[keep_d]
        wqkv = g("attn.qkv.weight").view(3, H, dh, c.d_model)
        wout = g("attn.out.weight").view(c.d_model, H, dh)
        # per-head dims: the way in (q, k, v rows, through V_h for TVA) times the way out (U_h, out columns)
        if kind == "apt":
            V, U = g("attn.V"), g("attn.U")                      # (H, ra, dh), (H, dh, ra)
            head_in = _rownorm(wqkv.permute(1, 2, 0, 3).reshape(H, dh, -1), 2) * V.float().norm(dim=1)
            head_out = _rownorm(wout.permute(1, 2, 0).reshape(H, dh, -1), 2) * U.float().norm(dim=2)
        else:
            head_in = _rownorm(wqkv[0], 2) * _rownorm(wqkv[1], 2) + _rownorm(wqkv[2], 2)
            head_out = _rownorm(wout.permute(1, 2, 0).reshape(H, dh, -1), 2)
        keep_h = [_top(head_in[h] + head_out[h], dh_new) for h in range(H)]
        flat_h = torch.cat([h * dh + keep_h[h] for h in range(H)])
        rows = torch.cat([j * c.d_model + flat_h for j in range(3)])
        scale = torch.ones(3 * d_new)
        if kind != "apt" and dh_new != dh:  # keep the 1/sqrt(d_head) score scale of the kept dims
            scale[:d_new] = (dh_new / dh) ** 0.5
        out[q + "attn.qkv.weight"] = g("attn.qkv.weight")[rows][:, keep_d] * scale[:, None]
        out[q + "attn.qkv.bias"] = g("attn.qkv.bias")[rows] * scale
        out[q + "attn.out.weight"] = g("attn.out.weight")[keep_d][:, flat_h]
        out[q + "attn.out.bias"] = g("attn.out.bias")[keep_d]
        if kind == "apt":
            _slice_vft_block(out, q, g, keep_d, keep_h, V, U, c, new)
        else:
            w1, w2 = g("mlp.0.weight"), g("mlp.2.weight")
            keep_f = _top(_rownorm(w1) * _rownorm(w2, 0), f_new)
            out[q + "mlp.0.weight"], out[q + "mlp.0.bias"] = w1[keep_f][:, keep_d], g("mlp.0.bias")[keep_f]
            out[q + "mlp.2.weight"], out[q + "mlp.2.bias"] = w2[keep_d][:, keep_f], g("mlp.2.bias")[keep_d]
    cfg = APTConfig.from_dict({**c.to_dict(), **new})
    pruned = type(model)(cfg).to(next(model.parameters()).device)
    missing, unexpected = pruned.load_state_dict(out, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and cfg.tie_embeddings)]
    if missing or unexpected:  # pragma: no cover - a model change this module does not know
        raise RuntimeError(f"structured pruning could not map the weights: missing={missing} unexpected={unexpected}")
    _transplant(model, pruned)
    model.train(was_training)
    after = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return {"params_before": before, "params_after": after, "params_removed": 1.0 - after / before,
            "config": {k: getattr(cfg, k) for k in ("d_model", "n_layers", "rank", "r_hidden", "attn_rank", "s_normals")},
            "targets": targets}


def _slice_vft_block(out, q, g, keep_d, keep_h, V, U, c, new) -> None:
    H, ra, ra_new = c.n_heads, c.head_rank, new["attn_rank"]
    # attention subspace: per head, the directions whose projector row and lift column are largest
    Vs = torch.stack([V[h][:, keep_h[h]] for h in range(H)])        # (H, ra, dh')
    Us = torch.stack([U[h][keep_h[h]] for h in range(H)])           # (H, dh', ra)
    keep_a = [_top(Vs[h].float().norm(dim=1) * Us[h].float().norm(dim=0), ra_new) for h in range(H)]
    # scores use 1/sqrt(rank): scale V by (ra'/ra)^(1/4) (squared in q.k) and U by its inverse
    c4 = (ra_new / ra) ** 0.25
    out[q + "attn.V"] = torch.stack([Vs[h][keep_a[h]] for h in range(H)]) * c4
    out[q + "attn.U"] = torch.stack([Us[h][:, keep_a[h]] for h in range(H)]) / c4
    vV, vU = g("vein.V"), g("vein.U")                                # (r, d), (d, r)
    up, down = g("ffn.up.weight"), g("ffn.down.weight")             # (rh, r), (r, rh)
    keep_r = _top(_rownorm(vV) * _rownorm(up, 0) + _rownorm(down) * _rownorm(vU, 0), new["rank"])
    keep_f = _top(_rownorm(up) * _rownorm(down, 0), new["r_hidden"])
    for prefix in ("vein.", "ffn.vein."):
        out[q + prefix + "V"] = vV[keep_r][:, keep_d]
        out[q + prefix + "U"] = vU[keep_d][:, keep_r]
    out[q + "ffn.up.weight"], out[q + "ffn.up.bias"] = up[keep_f][:, keep_r], g("ffn.up.bias")[keep_f]
    out[q + "ffn.down.weight"], out[q + "ffn.down.bias"] = down[keep_r][:, keep_f], g("ffn.down.bias")[keep_r]
    out[q + "ffn.stab_norm.weight"], out[q + "ffn.stab_norm.bias"] = g("ffn.stab_norm.weight")[keep_d], g("ffn.stab_norm.bias")[keep_d]
    out[q + "ffn.stab.weight"] = g("ffn.stab.weight")[keep_d][:, keep_d]
    out[q + "ffn.stab.bias"] = g("ffn.stab.bias")[keep_d]
    cu, cv, gw = g("compensator.u"), g("compensator.v"), g("compensator.gate.weight")
    keep_s = _top(_rownorm(cu) * _rownorm(cv), new["s_normals"]) if new["s_normals"] else torch.zeros(0, dtype=torch.long)
    out[q + "compensator.u"], out[q + "compensator.v"] = cu[keep_s][:, keep_d], cv[keep_s][:, keep_d]
    out[q + "compensator.gate.weight"] = gw[keep_s][:, keep_d]
    out[q + "compensator.gate.bias"] = g("compensator.gate.bias")[keep_s]


def _transplant(target, source) -> None:
    """Make ``target`` (same class) hold ``source``'s modules, parameters, buffers and config, in place,
    so that every holder of ``target`` (a trainer, a LightningModule) sees the pruned model."""
    for key in ("_modules", "_parameters", "_buffers"):
        target.__dict__[key] = source.__dict__[key]
    target.config = source.config

"""The LanguageModel protocol on TinyLM and TinySSM: caches, custom positions and masks, hidden states, weights."""
from __future__ import annotations

import pytest
import torch

from frontier.models.protocol import KVCache, LanguageModel, LMOutput, ModelOutput, RecurrentCache
from frontier.models.tiny_lm import TinyLM, TinyLMConfig
from frontier.models.tiny_ssm import TinySSM, TinySSMConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

V = 17
MODELS = {
    "mha": lambda: TinyLM(TinyLMConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, d_ff=32), seed=1),
    "gqa": lambda: TinyLM(TinyLMConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=32),
                          seed=2),
    "mqa_moe": lambda: TinyLM(TinyLMConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, n_kv_heads=1, d_ff=16,
                                           n_experts=4, experts_per_token=2), seed=3),
    "ssm": lambda: TinySSM(TinySSMConfig(vocab_size=V, d_model=16, n_layers=2, d_state=4), seed=4),
    "ssm_lti": lambda: TinySSM(TinySSMConfig(vocab_size=V, d_model=16, n_layers=2, d_state=4, selective=False),
                               seed=5),
}


def _tokens(B=2, T=11, seed=0):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def _cached_logits(model, tok, chunks):
    """Logits from feeding ``tok`` through a fresh cache in chunks of the given sizes."""
    cache = model.new_cache(tok.shape[0])
    out, i = [], 0
    for n in chunks:
        out.append(model(tok[:, i:i + n], cache=cache).logits)
        i += n
    assert cache.length == tok.shape[1]
    return torch.cat(out, dim=1), cache


@pytest.mark.parametrize("name", list(MODELS))
def test_models_implement_the_protocol(name):
    model = MODELS[name]()
    assert isinstance(model, LanguageModel)
    assert model.max_seq_len == model.config.max_seq_len == 512
    assert model.n_parameters() == sum(p.numel() for p in model.parameters())
    out = model(_tokens())
    assert isinstance(out, ModelOutput) and LMOutput is ModelOutput
    assert out.logits.shape == (2, 11, V) and out.aux_loss.ndim == 0 and out.cache is None and out.hidden is None


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("chunks", [(4, 1, 1, 1, 1, 1, 1, 1), (1,) * 11, (5, 3, 3)])
def test_cached_decoding_gives_the_logits_of_a_full_pass(name, chunks):
    """Prompt then token by token (or in chunks) through the cache = one pass over the sequence (float32)."""
    model = MODELS[name]().eval()
    tok = _tokens()
    with torch.no_grad():
        full = model(tok).logits
        stepped, _ = _cached_logits(model, tok, chunks)
    torch.testing.assert_close(stepped, full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["mha", "gqa", "ssm"])
def test_a_truncated_cache_continues_exactly_as_a_fresh_one(name):
    model = MODELS[name]().eval()
    tok = _tokens(T=12, seed=3)
    other = _tokens(T=12, seed=4)
    with torch.no_grad():
        # a fresh cache: 6 tokens, then the next 4
        _, fresh = _cached_logits(model, tok[:, :6], (6,))
        want = model(tok[:, 6:10], cache=fresh).logits
        # the same 6 tokens, then 3 "rejected draft" tokens one at a time, rolled back to 6
        _, cache = _cached_logits(model, tok[:, :6], (6,))
        for i in range(3):
            model(other[:, i:i + 1], cache=cache)
        backup = cache.copy()
        assert cache.truncate(6) is cache and cache.length == 6
        got = model(tok[:, 6:10], cache=cache).logits
        # the copy taken before truncating is untouched and still 9 long
        assert backup.length == 9
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_kv_cache_contents_shapes_and_copy_independence():
    model = MODELS["gqa"]().eval()
    tok = _tokens(B=3, T=7)
    with torch.no_grad():
        _, cache = _cached_logits(model, tok, (3, 1, 3))
    assert isinstance(cache, KVCache) and cache.length == 7
    assert cache.keys(0).shape == cache.values(1).shape == (3, 2, 7, 8)       # (B, n_kv_heads, len, head_dim)
    twin = cache.copy()
    with torch.no_grad():
        model(tok[:, :2], cache=twin)
    assert twin.length == 9 and cache.length == 7
    with pytest.raises(ValueError, match="at most"):
        cache.truncate(8)
    with pytest.raises(ValueError, match="batch"):
        model(tok[:2, :1], cache=cache)


def test_recurrent_cache_keeps_snapshots_and_refuses_other_lengths():
    model = MODELS["ssm"]().eval()
    cache = model.new_cache(2, max_history=3)
    assert isinstance(cache, RecurrentCache)
    with torch.no_grad():
        for t in range(6):
            model(_tokens(T=1, seed=t), cache=cache)
    assert cache.lengths_kept == [3, 4, 5, 6]
    with pytest.raises(ValueError, match="cannot be rewound"):
        cache.copy().truncate(1)
    cache.truncate(4)
    assert cache.length == 4 and cache.lengths_kept == [3, 4]


def test_tree_speculation_with_positions_and_mask():
    """Three candidate next tokens fed at once, as siblings at the same position, each seeing only the prefix."""
    model = MODELS["gqa"]().eval()
    prefix, candidates = _tokens(B=1, T=6), torch.tensor([[3, 9, 14]])
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[:, 6:] = torch.eye(3, dtype=torch.bool)                 # each candidate attends the prefix and itself
    with torch.no_grad():
        _, cache = _cached_logits(model, prefix, (6,))
        tree = model(candidates, cache=cache, positions=torch.tensor([6, 6, 6]), mask=mask).logits
        for j in range(3):
            alone = model(torch.cat([prefix, candidates[:, j:j + 1]], dim=1)).logits[:, -1]
            torch.testing.assert_close(tree[:, j], alone, rtol=1e-4, atol=1e-5)
    assert cache.length == 9


def test_gqa_equals_mha_with_repeated_key_value_heads():
    """An independent check of the head grouping: copy the shared K/V rows into a full multi-head model."""
    gqa = MODELS["gqa"]().eval()
    mha = TinyLM(TinyLMConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, d_ff=32), seed=0).eval()
    state = gqa.state_dict()
    dh, rep = 8, 2
    for name, w in list(state.items()):
        if name.endswith(("attn.k.weight", "attn.v.weight")):
            heads = w.view(2, dh, 32)                            # (n_kv_heads, head_dim, d_model)
            state[name] = heads.repeat_interleave(rep, dim=0).reshape(4 * dh, 32)
    mha.load_state_dict(state)
    tok = _tokens()
    with torch.no_grad():
        torch.testing.assert_close(mha(tok).logits, gqa(tok).logits, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["mqa_moe", "ssm"])
def test_hidden_states_embeds_and_early_exit(name):
    model = MODELS[name]().eval()
    tok = _tokens()
    with torch.no_grad():
        out = model(tok, return_hidden=True)
        assert len(out.hidden) == model.config.n_layers + 1
        assert all(h.shape == (2, 11, model.config.d_model) for h in out.hidden)
        torch.testing.assert_close(out.hidden[0], model.embed(tok))
        torch.testing.assert_close(model.head(model.norm(out.hidden[-1])), out.logits)
        torch.testing.assert_close(model(embeds=model.embed(tok)).logits, out.logits)
        cache = model.new_cache(2)
        model(tok[:, :8], cache=cache)
        late = model(tok[:, 8:], cache=cache, return_hidden=True).hidden
    for a, b in zip(late, out.hidden):
        torch.testing.assert_close(a, b[:, 8:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["mha", "mqa_moe", "ssm_lti"])
def test_weight_matrices_are_the_live_parameters(name):
    model = MODELS[name]()
    mats = model.weight_matrices()
    names = set(mats)
    assert {"embedding", "head"} <= names
    if name == "mha":
        assert {"blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.attn.v", "blocks.0.attn.o",
                "blocks.1.ffn.w1", "blocks.1.ffn.w2", "blocks.1.ffn.w3"} <= names
    if name == "mqa_moe":
        assert {"blocks.0.ffn.router", "blocks.0.ffn.experts.3.w2"} <= names
        assert mats["blocks.0.attn.k"].shape == (8, 32)          # one key head of head_dim 8
    if name == "ssm_lti":
        assert {"blocks.0.in_proj", "blocks.1.out_proj", "blocks.0.B", "blocks.0.C"} <= names
    for key, w in mats.items():
        if key.endswith((".B", ".C")):
            continue
        assert model.get_submodule(key).weight is w and w.ndim == 2
    tok = _tokens()
    before = model(tok).logits.detach().clone()
    with torch.no_grad():
        mats["head"].zero_()                                     # editing the returned matrix edits the model
    assert torch.all(model(tok).logits == 0) and not torch.all(before == 0)


def test_forward_checks_its_arguments():
    lm, ssm = MODELS["mha"](), MODELS["ssm"]()
    tok = _tokens()
    with pytest.raises(TypeError, match="integer"):
        lm(tok.float())
    with pytest.raises(ValueError, match="exactly one"):
        lm(tok, embeds=lm.embed(tok))
    with pytest.raises(ValueError, match="embeds"):
        lm(embeds=torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="positions"):
        lm(tok, positions=[0, 1])
    cache = lm.new_cache(2)
    lm(tok[:, :4], cache=cache)
    with pytest.raises(ValueError, match=r"\(2, 6\)"):
        lm(tok[:, :2], cache=cache, mask=torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="streaming"):
        lm(tok[:, :2], cache=cache, streaming=(2, 1))
    with pytest.raises(TypeError, match="KVCache"):
        lm(tok, cache=ssm.new_cache(2))
    with pytest.raises(ValueError, match="mask"):
        ssm(tok, mask=torch.ones(11, 11, dtype=torch.bool))
    with pytest.raises(ValueError, match="positions"):
        ssm(tok, positions=torch.arange(11))
    with pytest.raises(TypeError, match="RecurrentCache"):
        ssm(tok, cache=lm.new_cache(2))

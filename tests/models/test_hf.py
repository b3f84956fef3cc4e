"""Tests for frontier.models.hf, offline, on a tiny randomly initialised Llama-style model saved in the test.

The course's `generate` and `sequence_logprobs` must agree with computing the same things with transformers
directly. Skipped when transformers is not installed (it is the optional [hf] extra).
"""
from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from frontier.models.generate import generate                       # noqa: E402
from frontier.models.hf import HFCausalLM                           # noqa: E402
from frontier.models.logprobs import sequence_logprobs              # noqa: E402
from frontier.models.protocol import LanguageModel                   # noqa: E402
from frontier.models.training import train                           # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

V = 97


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    cfg = transformers.LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                   bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():                      # larger weights than the default init: peaked, tie-free logits
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def wrapped(llama_dir):
    return HFCausalLM(str(llama_dir), dtype=torch.float64)


@pytest.fixture(scope="module")
def reference(llama_dir):
    return transformers.AutoModelForCausalLM.from_pretrained(str(llama_dir)).to(torch.float64).eval()


def _prompt(B=3, T=5, seed=0):
    return torch.randint(3, V, (B, T), generator=torch.Generator().manual_seed(seed))


def test_implements_the_protocol(wrapped):
    assert isinstance(wrapped, LanguageModel)
    assert wrapped.config.vocab_size == V and wrapped.config.n_layers == 2 and wrapped.config.n_kv_heads == 2
    assert wrapped.max_seq_len == 64 and wrapped.tokenizer is None
    assert wrapped.n_parameters() == sum(p.numel() for p in wrapped.hf.parameters())
    mats = wrapped.weight_matrices()
    assert "hf.model.layers.0.self_attn.q_proj" in mats
    assert wrapped.get_submodule("hf.model.layers.1.mlp.down_proj").weight is mats["hf.model.layers.1.mlp.down_proj"]


def test_greedy_generate_matches_transformers(wrapped, reference):
    prompt = _prompt()
    ours = generate(wrapped, prompt, 12, temperature=0)
    uncached = generate(wrapped, prompt, 12, temperature=0, use_cache=False)
    theirs = reference.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12,
                                do_sample=False, pad_token_id=0, eos_token_id=None)
    assert torch.equal(ours, theirs) and torch.equal(ours, uncached)


def test_sequence_logprobs_match_a_manual_gather(wrapped, reference):
    tokens = _prompt(B=2, T=10, seed=1)
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[:, 6:] = True
    with torch.no_grad():
        logits = reference(tokens).logits
        lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, tokens[:, 1:, None])[..., 0]
        ours = sequence_logprobs(wrapped, tokens, mask)
        ours_all = sequence_logprobs(wrapped, tokens)
    torch.testing.assert_close(ours, lp[:, 5:].sum(1).to(ours.dtype), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours_all, lp.sum(1).to(ours.dtype), rtol=1e-6, atol=1e-6)


def test_cache_truncate_copy_hidden_and_masks(wrapped):
    tokens = _prompt(B=2, T=8, seed=2)
    with torch.no_grad():
        full = wrapped(tokens, return_hidden=True)
        cache = wrapped.new_cache(2)
        wrapped(tokens[:, :6], cache=cache)
        branch = cache.copy()
        wrapped(tokens[:, 6:7], cache=cache)              # one token, then roll it back
        cache.truncate(6)
        step = wrapped(tokens[:, 6:], cache=cache)
        other = wrapped(tokens[:, 6:], cache=branch)
        causal = torch.ones(8, 8, dtype=torch.bool).tril()
        masked = wrapped(tokens, mask=causal)
        embedded = wrapped(embeds=wrapped.embed(tokens))
    torch.testing.assert_close(step.logits, full.logits[:, 6:])
    torch.testing.assert_close(other.logits, full.logits[:, 6:])
    torch.testing.assert_close(masked.logits, full.logits)
    torch.testing.assert_close(embedded.logits, full.logits)
    assert cache.length == 8 and len(full.hidden) == 3 and full.hidden[0].shape == (2, 8, 32)
    lens = wrapped.hf.lm_head(wrapped.hf.model.norm(full.hidden[-1]))      # no final norm in hidden[-1]
    torch.testing.assert_close(lens, full.logits)


def test_train_only_some_parameters(wrapped, llama_dir):
    model = HFCausalLM(str(llama_dir))
    head = model.hf.lm_head.weight
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def loss_fn(m, batch):
        lp = sequence_logprobs(m, batch)
        return -lp.mean(), {}

    fixed = _prompt(B=4, T=8, seed=3)                  # fit one batch: its loss must fall
    log = train(model, loss_fn, [fixed] * 15, 15, lr=1e-2, seed=0, params=[head], progress=False, record_every=5)
    assert log.loss[-1] < log.loss[0]
    changed = [k for k in before if not torch.equal(before[k], model.state_dict()[k])]
    assert changed == ["hf.lm_head.weight"]


def test_offline_hub_name_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="run this once with internet access|local folder"):
        HFCausalLM("frontier-course/model-that-is-not-cached")

"""The optional real-model path of lesson 2.1 (``REAL_MODEL``), run offline end to end.

A lesson's ``REAL_MODEL`` loads a hub model through :class:`frontier.models.hf.HFCausalLM` and prompts it with
:data:`frontier.reasoning.lm.FEW_SHOT`.  CI never downloads a model, so this test builds the same stack locally: a
tiny Llama (``transformers``) with a character-level Hugging Face tokenizer, saved to a folder and loaded by
``HFCausalLM`` as a hub model would be, then fine-tuned for a few seconds to write known chains after the few-shot
prompt.  The strategies then run on it through :class:`~frontier.reasoning.lm.PromptedProposer` with the exact
checker, and the compute counter is checked against the token count of the text the model actually processed.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from frontier.models import Batch, next_token_loss_fn, train        # noqa: E402
from frontier.models.hf import HFCausalLM                            # noqa: E402
from frontier.reasoning import experiments, lm, steps, verifiers     # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Two puzzles and one correct chain each, in the proposer's chain format.
CHAINS = {(1, 2, 3, 4): "1+2=3[3 3 4];3+3=6[4 6];4*6=24[24]",
          (2, 3, 4, 5): "5-3=2[2 2 4];2+2=4[4 4];4*4=16[16]"}      # a wrong one: 16, not 24


def _char_tokenizer():
    from tokenizers import Regex, decoders, models, pre_tokenizers
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    for c in sorted(set(lm.FEW_SHOT) | set("0123456789+-*/=()[];: \n")):
        vocab[c] = len(vocab)
    tk = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>", unk_token="<unk>")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A 'real model' folder (weights + tokenizer), loaded like a hub model and taught the two chains."""
    hft = _char_tokenizer()
    cfg = transformers.LlamaConfig(vocab_size=len(hft), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                   bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-real-model")
    transformers.LlamaForCausalLM(cfg).save_pretrained(path)
    hft.save_pretrained(path)
    model = HFCausalLM(str(path))
    assert model.tokenizer is not None, "the folder's tokenizer must load, as a hub model's does"
    rows, masks = [], []
    for puzzle, chain in CHAINS.items():
        head = model.encode(lm.FEW_SHOT + steps.prompt_text(puzzle))[0].tolist()
        tail = model.encode(chain)[0].tolist() + [model.tokenizer.eos_token_id]
        rows.append(head + tail)
        masks.append([False] * len(head) + [True] * len(tail))
    T = max(map(len, rows))
    tokens = torch.zeros(len(rows), T, dtype=torch.int64)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    for i, (r, m) in enumerate(zip(rows, masks)):
        tokens[i, :len(r)], mask[i, :len(m)] = torch.tensor(r), torch.tensor(m)
    log = train(model, next_token_loss_fn(True), lambda rng: Batch(tokens, mask), 150, lr=1e-2, seed=0, progress=False,
                record_every=10)
    assert log.loss[-1] < 0.05, f"the tiny model did not learn the two chains (loss {log.loss[-1]:.3f})"
    model.hf.eval()
    return model


def test_greedy_real_model_writes_its_chain_and_the_checker_grades_it(real):
    prop = lm.PromptedProposer(real, temperature=0.0, name="tiny real")
    rows = experiments.sweep(prop, list(CHAINS), [("single", {})], seed=0)
    by_puzzle = {r["puzzle"]: r for r in rows}
    assert by_puzzle["1 2 3 4"]["correct"] is True
    assert by_puzzle["2 3 4 5"]["correct"] is False          # its chain ends at 16: the exact checker says no


def test_compute_counter_equals_the_tokens_the_model_processed(real):
    prop = lm.PromptedProposer(real, temperature=0.0)
    puzzle = (1, 2, 3, 4)
    (p,) = prop.extend(puzzle, (), 1, np.random.default_rng(0))
    # greedy decoding writes the chain and then </s>: the network processed the prompt and every generated token
    # but the last (</s> is sampled, never fed back)
    expected = real.encode(lm.FEW_SHOT + steps.prompt_text(puzzle) + CHAINS[puzzle]).shape[1]
    assert p.tokens == expected
    assert prop.tokens_processed == expected
    assert steps.check_chain(puzzle, p.steps).solved and p.well_formed
    rows = experiments.sweep(prop, [puzzle], [("best_of_n", {"n": 3, "verifier": verifiers.NoisyOutcomeVerifier(0, 0)})],
                             seed=0)
    assert rows[0]["tokens"] == 3 * expected and rows[0]["correct"]


def test_search_continues_a_prefix_one_step_at_a_time(real):
    prop = lm.PromptedProposer(real, temperature=0.0)
    puzzle = (1, 2, 3, 4)
    first, _ = steps.parse_chain(CHAINS[puzzle].split(";")[0])
    (p,) = prop.extend(puzzle, tuple(first), 1, np.random.default_rng(0), max_steps=1)
    assert len(p.steps) == 2 and steps.chain_text(puzzle, p.steps) == ";".join(CHAINS[puzzle].split(";")[:2])
    rows = experiments.sweep(prop, [puzzle], [("tree_search", {"breadth": 1, "proposals": 1,
                                                                 "prm": verifiers.NoisyProcessVerifier(0, 0)})], seed=0)
    assert rows[0]["correct"]


def test_sampling_from_a_real_model_that_writes_garbage_never_crashes_a_strategy(real):
    prop = lm.PromptedProposer(real, temperature=5.0, max_new_tokens=12)     # near-uniform characters
    rows = experiments.sweep(prop, [(4, 4, 6, 8)], [("single", {}), ("self_consistency", {"n": 3}),
                                                    ("best_of_n", {"n": 3, "verifier": verifiers.NoisyOutcomeVerifier(0, 0)})],
                             seed=1)
    assert all(not r["correct"] for r in rows)
    assert sum(r["tokens"] for r in rows) == prop.tokens_processed > 0

"""The question set and the reader: splits, formats, a short training run, and the RAG claim (slow)."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.data import generate_corpus
from frontier.knowledge.qa import build_qa, split_counts, stratified_sample
from frontier.knowledge.reader import (ReaderConfig, answer, counterfactual, format_prompt, normalise, parse_answer,
                                       probe_history, train_reader)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world():
    corpus = generate_corpus(3, 2, seed=5, trading_days=False)
    return corpus, build_qa(corpus, seed=5)


def test_splits_are_disjoint_reproducible_and_long_tailed():
    corpus = generate_corpus(10, 8, seed=0, trading_days=False)
    items = build_qa(corpus, seed=0)
    assert items == build_qa(corpus, seed=0)
    c = split_counts(items)
    assert c["seen"] + c["abstain"] + c["unseen"] == len(items) == 10 * 8 * 4
    assert c["seen x1"] > c["seen x2"] > c["seen x4"] > c["seen x8"]          # most seen facts are rare
    assert all((i.frequency > 0) == (i.split == "seen") for i in items)
    strat = stratified_sample(items, 5)
    assert len(strat) == 6 * 5 and len({(i.split, i.frequency) for i in strat}) == 6


def test_formats():
    assert normalise("Revenue was $4,821 million in Q3 2024.") == "revenue was $4821 million in q3 2024."
    assert parse_answer("4821") == (4821, False) and parse_answer("- 12") == (-12, False)
    assert parse_answer("unknown") == (None, True) and parse_answer("$ 12") == (None, False)


def test_prompt_formats(world):
    corpus, items = world
    it = items[0]
    assert format_prompt(it).startswith("q : ") and format_prompt(it).endswith("a :")
    assert format_prompt(it, ["A.", "B."]).startswith("ctx : a. | b. q : ")


def test_counterfactual_replaces_the_figure(world):
    corpus, items = world
    it = items[0]
    docs = {d.doc_id: d for d in corpus.documents}
    s, e = it.spans[0]
    sentence = docs[it.doc_id].text[s:e]
    new, text = counterfactual(sentence, it.answer, [it.answer + 1], np.random.default_rng(0))
    assert new == it.answer + 1 and f"{new:,}" in text and f"{it.answer:,}" not in text


def test_short_training_run_answers_and_probes(world):
    corpus, items = world
    cfg = ReaderConfig(steps=30, d_model=32, n_layers=1, n_heads=2, d_ff=64, batch=8)
    reader, log = train_reader(corpus, items, cfg, use_cache=False, progress=False, probes=3)
    ans = answer(reader, items[:5])
    assert len(ans) == 5 and all(0 <= a.confidence <= 1 for a in ans)
    assert all(a.logits.shape == (len(a.token_ids), reader.tokenizer.vocab_size) for a in ans)
    h = probe_history(log)
    assert h["correct"].shape == (3, len(items)) and len(h["step"]) == 3
    with pytest.raises(ValueError, match="contexts"):
        answer(reader, items[:2], [["x"]])


def test_bad_input(world):
    corpus, _ = world
    with pytest.raises(ValueError, match="unseen_fraction"):
        build_qa(corpus, unseen_fraction=0.7, abstain_fraction=0.5)
    with pytest.raises(ValueError, match="frequencies"):
        build_qa(corpus, frequencies=[0, 1])
    with pytest.raises(ValueError, match="steps"):
        ReaderConfig(steps=0)


@pytest.mark.slow
def test_perfect_retrieval_beats_closed_book():
    """Lesson 6.1's claim: given the sentence that states the fact, the reader answers facts it never saw
    closed-book, and makes fewer wrong attempts than closed-book on them."""
    from frontier.knowledge.experiments import make_world, perfect_contexts, run
    w = make_world(smoke=True, seed=0, progress=False)
    unseen = [i for i in w.items if i.split == "unseen"]
    closed = run(w.reader, unseen)
    rag = run(w.reader, unseen, perfect_contexts(w.corpus, unseen, 1))
    assert closed.rates.accuracy == 0.0                  # fictional companies: closed-book cannot know them
    assert rag.rates.accuracy > closed.rates.accuracy + 0.2
    assert rag.rates.incorrect < closed.rates.incorrect

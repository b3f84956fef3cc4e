"""The question set and the reader: splits, formats, a short training run, and the RAG claim (slow)."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.data import generate_corpus
from frontier.knowledge.qa import build_qa, split_counts, stratified_sample
from frontier.knowledge.reader import (TEMPLATES, ReaderConfig, answer, build_tokenizer, counterfactual, format_prompt,
                                       normalise, p_ik, p_true, parse_answer, probe_history, self_eval_prompt,
                                       train_reader)

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


def test_paraphrase_templates_ask_the_same_slots_and_end_alike(world):
    _, items = world
    it = items[0]
    prompts = [format_prompt(it, template=t) for t in range(len(TEMPLATES))]
    assert prompts[0] == normalise(f"q : {it.company} ( {it.ticker} ) {it.metric} {it.period} ? a :")
    assert len(set(prompts)) == len(TEMPLATES)
    for p in prompts:
        assert p.startswith("q : ") and p.endswith(" ? a :")
        for slot in (it.company, it.ticker, it.metric, it.period):
            assert normalise(slot) in p
    assert format_prompt(it, ["A."], 2).startswith("ctx : a. q : ")
    assert self_eval_prompt(it, 110, 1) == prompts[1] + " 110 true ? :"
    with pytest.raises(ValueError, match="template"):
        format_prompt(it, template=len(TEMPLATES))
    with pytest.raises(ValueError, match="n_templates"):
        ReaderConfig(n_templates=len(TEMPLATES) + 1)
    with pytest.raises(ValueError, match="p_self_eval"):
        ReaderConfig(p_self_eval=1.5)


def test_default_config_trains_on_the_same_batches_as_before(world):
    """A snapshot of the default config's first training batches, taken with the reader as it was before
    paraphrase templates and self-evaluation existed: the new options must not change the default random stream,
    vocabulary or formats (cached models, lessons and Exercise 4 depend on them).  A change to frontier.data's
    corpus or to the tokenizer also trips it; then re-take the snapshot deliberately."""
    import hashlib
    from frontier.knowledge.reader import _batch_fn
    corpus, items = world
    tok = build_tokenizer(corpus)
    make = _batch_fn(corpus, items, tok, ReaderConfig(batch=16, k_context=2))
    rng, h = np.random.default_rng(3), hashlib.sha256()
    for _ in range(3):
        b = make(rng)
        h.update(b.tokens.numpy().tobytes())
        h.update(b.target_mask.numpy().tobytes())
    assert tok.vocab_size == 213
    assert h.hexdigest() == "6f6f1883df18719795a4d3cdecc2c12d3126b279f407031ab902d1588d164af7"


def test_self_eval_examples_are_labelled_by_the_truth(world):
    """Seen facts: ``yes`` exactly when the proposed figure is the fact's own; abstain facts: always ``no`` and
    never shown their true figure; unseen facts never appear; templates drawn within n_templates."""
    corpus, items = world
    cfg = ReaderConfig(batch=64, p_self_eval=0.5, n_templates=3)
    tok = build_tokenizer(corpus, ["true yes no what was the of in how much did report for had"])
    from frontier.knowledge.reader import _batch_fn, _self_eval_example, _neighbour_figures
    pool = sorted({f.value for f in corpus.facts()})
    near = _neighbour_figures(items)
    rng = np.random.default_rng(0)
    labels = {"yes": 0, "no": 0}
    for it in [i for i in items if i.split in ("seen", "abstain")]:
        for _ in range(20):
            t = int(rng.integers(3))
            prompt, label = _self_eval_example(it, pool, near[it.key], rng, t)
            shown = int(prompt.split(" a : ")[1].split(" true")[0].replace(" ", ""))
            assert prompt.startswith(format_prompt(it, template=t))
            assert label == ("yes" if shown == it.answer else "no")
            assert it.split == "seen" or shown != it.answer
            labels[label] += 1
    assert labels["yes"] > 0 and labels["no"] > labels["yes"]
    unseen = [tok.encode(format_prompt(i, template=t), bos=True) for i in items if i.split == "unseen"
              for t in range(3)]
    rows = [r for r in _batch_fn(corpus, items, tok, cfg)(np.random.default_rng(1)).tokens.tolist()
            if tok.token_to_id("true") in r]
    assert len(rows) > 10
    assert not any(r[:len(u)] == u for r in rows for u in unseen)


def test_p_true_and_p_ik_match_a_direct_computation(world):
    import torch
    corpus, items = world
    cfg = ReaderConfig(steps=20, d_model=32, n_layers=1, n_heads=2, d_ff=64, batch=8, p_self_eval=0.3, n_templates=2)
    reader, _ = train_reader(corpus, items, cfg, use_cache=False, progress=False, probes=0)
    its = items[:6]
    values = [it.answer + k for k, it in enumerate(its)]
    pt = p_true(reader, its, values)
    assert pt.shape == (6,) and ((pt >= 0) & (pt <= 1)).all()
    yes, no = reader.tokenizer.token_to_id("yes"), reader.tokenizer.token_to_id("no")
    for it, v, p in zip(its, values, pt):                        # one prompt at a time, by hand
        ids = torch.tensor([reader.tokenizer.encode(self_eval_prompt(it, v), bos=True)])
        with torch.no_grad():
            z = reader.model(ids).logits[0, -1].double()
        assert p == pytest.approx(float(torch.softmax(z[[yes, no]], 0)[0]), abs=1e-5)
    unk = reader.tokenizer.token_to_id("unknown")
    from frontier.knowledge.calibration import softmax
    want = [1 - softmax(a.logits[0])[unk] for a in answer(reader, its, template=1)]
    np.testing.assert_allclose(p_ik(reader, its, template=1), want, atol=1e-5)
    assert p_true(reader, [], []).shape == (0,)
    with pytest.raises(ValueError, match="proposed_values"):
        p_true(reader, its, values[:2])
    with pytest.raises(ValueError, match="proposed_values"):
        p_true(reader, its[:1], [None])
    with pytest.raises(ValueError, match="template"):
        p_true(reader, its, values, template=-1)
    plain, _ = train_reader(corpus, items, ReaderConfig(steps=2, d_model=16, n_layers=1, n_heads=2, d_ff=32, batch=4),
                            use_cache=False, progress=False, probes=0)
    with pytest.raises(ValueError, match="reader"):
        p_true(plain, its, values)
    with pytest.raises(TypeError, match="reader"):
        p_true(plain.model, its, values)


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

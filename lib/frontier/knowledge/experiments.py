"""The knowledge lessons' experiments, end to end: a world, a reader, retrieval, answers, grades.

:func:`make_world` builds the corpus, the question set and the reader (trained once, then loaded from the model
cache); :func:`retrieve_contexts` fetches chunks for every question with a chosen retriever; :func:`run` answers
closed-book or with contexts and grades each answer; :func:`self_verify` abstains when the answer's figure is not
in the evidence; :func:`edit_and_check` edits one fact of a reader and asks every fact again in several phrasings;
:func:`confidence_scores` scores the reader's closed-book answers by their probability, P(IK) and P(True).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import copy

import numpy as np
import torch

from ..data import Corpus, generate_corpus
from ..retrieval import Chunk, chunk_documents, make_retriever, relevant_chunks
from .evaluation import attributed, grade, rates
from .qa import QAItem, build_qa
from .reader import Answer, Reader, ReaderConfig, answer, gold_context, p_ik, p_true, train_reader

__all__ = ["prompt_tokens", "answer_tokens", "finetune_closed_book", "World", "world_sizes", "make_world", "retrieve_contexts", "Result", "run", "read_chunks", "self_verify",
           "perfect_contexts", "summary_by", "closed_book_correct", "EditCheck", "edit_and_check",
           "confidence_scores", "paraphrase_world", "self_eval_world"]


@dataclass
class World:
    """A corpus, its questions, and a reader trained on part of them."""
    corpus: Corpus
    items: List[QAItem]
    reader: Reader
    log: object


def world_sizes(smoke: bool) -> Dict[str, object]:
    """The sizes the lessons use: tiny in SMOKE mode (trains in seconds), larger otherwise."""
    if smoke:
        return {"n_companies": 6, "n_quarters": 4, "reader": ReaderConfig(steps=400, d_model=64, n_layers=2)}
    return {"n_companies": 12, "n_quarters": 8, "reader": ReaderConfig(steps=2000, d_model=96, n_layers=2)}


def make_world(smoke: bool = True, seed: int = 0, *, progress: bool = True, name: str = "knowledge-reader",
               probes: int = 10, **reader_overrides) -> World:
    """Corpus + question set + trained reader, at :func:`world_sizes` for ``smoke`` (cached after the first run).

    ``reader_overrides`` change the reader's :class:`ReaderConfig` (e.g. ``n_templates=5`` or ``p_self_eval=0.2``):
    the same corpus and questions with a differently trained reader, cached under ``name`` and probed ``probes``
    times during training (see :func:`~frontier.knowledge.reader.train_reader`).
    """
    s = world_sizes(smoke)
    corpus = generate_corpus(s["n_companies"], s["n_quarters"], seed=seed, trading_days=False)
    items = build_qa(corpus, seed=seed)
    cfg = ReaderConfig(**{**s["reader"].__dict__, "seed": seed, **reader_overrides})
    reader, log = train_reader(corpus, items, cfg, name=name, progress=progress, probes=probes)
    return World(corpus, items, reader, log)


def paraphrase_world(smoke: bool = True, seed: int = 0, *, progress: bool = True) -> World:
    """:func:`make_world` with a reader trained on every question phrasing of
    :data:`~frontier.knowledge.reader.TEMPLATES` (lesson 6.3 edits a fact and asks it in each phrasing)."""
    from .reader import TEMPLATES
    return make_world(smoke, seed, progress=progress, name="knowledge-reader-paraphrases", probes=0,
                      n_templates=len(TEMPLATES))


def self_eval_world(smoke: bool = True, seed: int = 0, *, progress: bool = True) -> World:
    """:func:`make_world` with a reader for P(True) (lesson 6.2): trained closed-book only (no reading practice,
    since the lesson asks what the weights know), half its examples self-evaluation, 3 layers, 600 steps in SMOKE
    mode and 2000 otherwise."""
    return make_world(smoke, seed, progress=progress, name="knowledge-reader-self-eval", probes=0, n_layers=3,
                      p_self_eval=0.5, p_closed=1.0, steps=600 if smoke else 2000)


def perfect_contexts(corpus: Corpus, items: Sequence[QAItem], k: int = 1, seed: int = 0) -> List[List[str]]:
    """For each item its answer's sentence plus ``k − 1`` distractor sentences from the same filing: an oracle
    retriever."""
    from .reader import distractors
    docs = {d.doc_id: d for d in corpus.documents}
    rng = np.random.default_rng(seed)
    out = []
    for it in items:
        ctx = distractors(docs, it, k - 1, rng) if k > 1 else []
        ctx.insert(int(rng.integers(len(ctx) + 1)), gold_context(docs, it))
        out.append(ctx)
    return out


def retrieve_contexts(corpus: Corpus, items: Sequence[QAItem], *, retriever: str = "bm25", k: int = 2,
                      method: str = "sentence", size: int = 1, overlap: int = 0, rerank: bool = False,
                      seed: int = 0) -> Tuple[List[List[str]], List[List[int]], List[List[int]], List[Chunk]]:
    """Chunk the filings, index them, and retrieve ``k`` chunks per question.

    Returns ``(contexts, retrieved ids, relevant ids, chunks)``: per item the chunk texts, their ids, and the ids
    of the chunks that contain the answer's sentence (possibly none, if chunking cut it).
    """
    chunks = chunk_documents(corpus.documents, method, size, overlap)
    r = make_retriever(retriever, chunks, rerank=rerank, seed=seed, dim=64)
    ids, _ = r.search_many([it.question for it in items], k)
    rel = [relevant_chunks(chunks, it.doc_id, it.spans) for it in items]
    return [[chunks[int(i)].text for i in row] for row in ids], [list(map(int, row)) for row in ids], rel, chunks


@dataclass
class Result:
    """Graded answers: per item the :class:`Answer`, the outcome, and whether the figure is in the context."""
    items: List[QAItem]
    answers: List[Answer]
    outcomes: List[str]
    attributed: List[bool] = field(default_factory=list)

    @property
    def rates(self):
        return rates(self.outcomes)

    @property
    def correct(self) -> np.ndarray:
        return np.array([o == "correct" for o in self.outcomes])

    @property
    def confidence(self) -> np.ndarray:
        return np.array([a.confidence for a in self.answers])

    def subset(self, mask: Sequence[bool]) -> "Result":
        m = list(mask)
        pick = [i for i, x in enumerate(m) if x]
        return Result([self.items[i] for i in pick], [self.answers[i] for i in pick],
                      [self.outcomes[i] for i in pick],
                      [self.attributed[i] for i in pick] if self.attributed else [])


def read_chunks(reader: Reader, items: Sequence[QAItem], contexts: Sequence[Sequence[str]]) -> List[Answer]:
    """Read each retrieved chunk separately and keep the most confident answer that is not an abstention
    (abstain only when every chunk says ``unknown``).  The reader was trained on one chunk at a time; more chunks
    give more chances to find the fact, and more chances to copy a wrong figure."""
    flat_items, flat_ctx, owner = [], [], []
    for i, (it, ctx) in enumerate(zip(items, contexts)):
        if len(ctx) == 0:
            raise ValueError(f"context {i} is empty: give every question at least one chunk")
        for c in ctx:
            flat_items.append(it)
            flat_ctx.append([c])
            owner.append(i)
    flat = answer(reader, flat_items, flat_ctx)
    best: List[Optional[Answer]] = [None] * len(items)
    for i, a in zip(owner, flat):
        b = best[i]
        if b is None or (b.abstained and not a.abstained) or (a.abstained == b.abstained and a.confidence > b.confidence):
            best[i] = a
    return best  # type: ignore[return-value]


def run(reader: Reader, items: Sequence[QAItem], contexts: Optional[Sequence[Sequence[str]]] = None) -> Result:
    """Answer ``items`` (closed-book when ``contexts`` is None, else :func:`read_chunks`) and grade every answer."""
    ans = answer(reader, items) if contexts is None else read_chunks(reader, items, contexts)
    outcomes = [grade(a.value, a.abstained, it.answer) for a, it in zip(ans, items)]
    attr = [] if contexts is None else [attributed(a.value, c) for a, c in zip(ans, contexts)]
    return Result(list(items), ans, outcomes, attr)


def self_verify(result: Result, contexts: Sequence[Sequence[str]]) -> Result:
    """Verification: an attempted answer whose figure appears in no retrieved chunk that names the asked company,
    metric and period becomes an abstention.  Correct answers can be lost (a paraphrased metric), wrong ones caught."""
    from ..data.filings import SYNONYMS
    new_out, new_ans = [], []
    for it, a, o, ctx in zip(result.items, result.answers, result.outcomes, contexts):
        if o == "abstained":
            new_out.append(o)
            new_ans.append(a)
            continue
        ok = any(a.value is not None and attributed(a.value, [c]) and it.period in c
                 and (it.company in c or it.ticker in c)
                 and any(s in c.lower() for s in SYNONYMS[it.metric]) for c in ctx)
        new_out.append(o if ok else "abstained")
        new_ans.append(a if ok else Answer("unknown", None, True, a.confidence, a.logits, a.token_ids))
    return Result(result.items, new_ans, new_out, result.attributed)


def prompt_tokens(reader: Reader, items: Sequence[QAItem], contexts=None, *, template: int = 0) -> List[torch.Tensor]:
    """Closed-book (or context) prompt token ids ``(T,)`` per item, with ``<bos>``, phrased with ``template``."""
    from .reader import format_prompt
    return [torch.tensor(reader.tokenizer.encode(format_prompt(it, None if contexts is None else contexts[i],
                                                               template), bos=True)) for i, it in enumerate(items)]


def answer_tokens(reader: Reader, value: Optional[int]) -> torch.Tensor:
    """The answer token ids ``(n,)`` for a figure (or ``unknown`` for None), ending with ``<eos>``."""
    from .reader import _answer_text
    return torch.tensor(reader.tokenizer.encode(_answer_text(value), eos=True))


def finetune_closed_book(reader: Reader, items: Sequence[QAItem], answers: Sequence[Optional[int]], steps: int, *,
                         lr: float = 1e-3, batch: int = 16, seed: int = 0, progress: bool = True):
    """Fine-tune ``reader`` in place on closed-book questions ``items`` with ``answers`` only (no replay of old
    facts): the naive way to teach a model new quarters.  Returns the training log."""
    from ..models import Batch, next_token_loss_fn, train
    pairs = [(p, answer_tokens(reader, a)) for p, a in zip(prompt_tokens(reader, items), answers)]

    def make(rng):
        return Batch.from_pairs([pairs[int(i)] for i in rng.integers(len(pairs), size=batch)])

    return train(reader.model, next_token_loss_fn(True), make, steps, lr=lr, seed=seed, progress=progress,
                 desc="fine-tune on new facts")


def summary_by(result: Result, key) -> Dict[object, Dict[str, object]]:
    """:meth:`Rates.as_dict` per group, ``key(item) -> group``."""
    groups: Dict[object, List[int]] = {}
    for i, it in enumerate(result.items):
        groups.setdefault(key(it), []).append(i)
    return {g: rates([result.outcomes[i] for i in idx]).as_dict() for g, idx in sorted(groups.items())}


# -- editing a fact, checked on paraphrases ---------------------------------------------------------------------
def closed_book_correct(reader: Reader, items: Sequence[QAItem], templates: Sequence[int] = (0,)) -> np.ndarray:
    """``(len(templates), N)`` bool: whether the closed-book answer to each item, asked with each template, is its
    true figure."""
    rows = []
    for t in templates:
        rows.append([not a.abstained and a.value == it.answer for a, it in zip(answer(reader, items, template=t), items)])
    return np.array(rows, dtype=bool).reshape(len(rows), len(items))


@dataclass
class EditCheck:
    """What one edit did.  ``answers``: the edited fact's answer text under each checked template; ``success``
    ``(n_templates,)``: whether that answer is the new figure; ``same_company`` / ``other_companies``: the share
    of the other facts (of that company / of other companies) answered right before the edit that are still right
    after it, pooled over the templates; ``loss``: the edit's final loss (nats per answer token)."""
    answers: List[str]
    success: np.ndarray
    same_company: float
    other_companies: float
    loss: float


def edit_and_check(reader: Reader, items: Sequence[QAItem], target: QAItem, new_value: int, layer: int,
                   covariance: Optional[np.ndarray] = None, *, edit_templates: Sequence[int] = (0,),
                   templates: Sequence[int] = (0,), before: Optional[np.ndarray] = None, steps: int = 100,
                   lr: float = 0.1, seed: int = 0) -> EditCheck:
    """Edit a copy of ``reader`` so that ``target``, asked in each of ``edit_templates``, answers ``new_value``
    (:func:`~frontier.knowledge.editing.edit_tinylm_fact` on ``blocks[layer].ffn.w2``, with ``covariance`` or the
    identity), then ask every item of ``items`` in each of ``templates``.  ``before``: :func:`closed_book_correct`
    of ``reader`` on ``items`` and ``templates`` (computed if None; pass it to reuse it across edits).
    ``reader`` itself is not changed."""
    from .editing import edit_tinylm_fact
    if target not in items:
        raise ValueError("target must be one of items")
    if not edit_templates:
        raise ValueError("edit_templates must name at least one template")
    before = closed_book_correct(reader, items, templates) if before is None else np.asarray(before, dtype=bool)
    if before.shape != (len(templates), len(items)):
        raise ValueError(f"before must have shape {(len(templates), len(items))}, got {before.shape}")
    edited = copy.deepcopy(reader)
    prompts = [prompt_tokens(edited, [target], template=t)[0] for t in edit_templates]
    res = edit_tinylm_fact(edited.model, prompts, answer_tokens(edited, new_value), layer, covariance,
                           steps=steps, lr=lr, seed=seed)
    ti = list(items).index(target)
    same = np.array([it.ticker == target.ticker for it in items])
    same[ti] = False
    other = np.array([it.ticker != target.ticker for it in items])
    texts, ok, kept_same, kept_other = [], [], [], []
    for row, t in enumerate(templates):
        ans = answer(edited, items, template=t)
        texts.append(ans[ti].text)
        ok.append(not ans[ti].abstained and ans[ti].value == int(new_value))
        right = np.array([not a.abstained and a.value == it.answer for a, it in zip(ans, items)])
        kept_same += list(right[before[row] & same])
        kept_other += list(right[before[row] & other])
    mean = lambda x: float(np.mean(x)) if len(x) else float("nan")        # noqa: E731
    return EditCheck(texts, np.array(ok), mean(kept_same), mean(kept_other), res.loss)


# -- confidence scores: the answer's probability, P(IK), P(True) ------------------------------------------------
def confidence_scores(reader: Reader,
                      items: Sequence[QAItem]) -> Tuple[List[QAItem], np.ndarray, Dict[str, np.ndarray]]:
    """The reader answers ``items`` closed-book; for the ``n`` answers that are figures (abstentions and the rare
    malformed answer dropped) returns the
    items, whether each answer is right ``(n,)`` bool, and three confidence scores ``(n,)`` in [0, 1]:

    * ``"answer probability"``: the probability of the whole greedy answer (:attr:`Answer.confidence`);
    * ``"P(IK)"``: 1 − p(``unknown``) as the first answer token (:func:`~frontier.knowledge.reader.p_ik`);
    * ``"P(True)"``: the reader's probability that its own answer is true (:func:`~frontier.knowledge.reader.p_true`;
      needs a reader trained with ``p_self_eval > 0``).
    """
    ans = answer(reader, items)
    keep = [i for i, a in enumerate(ans) if not a.abstained and a.value is not None]
    its = [items[i] for i in keep]
    correct = np.array([ans[i].value == items[i].answer for i in keep], dtype=bool)
    scores = {"answer probability": np.array([ans[i].confidence for i in keep]),
              "P(IK)": p_ik(reader, its),
              "P(True)": p_true(reader, its, [ans[i].value for i in keep])}
    return its, correct, scores

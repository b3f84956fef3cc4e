"""A tiny language model that answers questions about the corpus closed-book or from retrieved chunks.

One :class:`~frontier.models.TinyLM` learns two formats (word-level tokens; every figure of the corpus is one
token, so copying a figure from the context is a single-token copy that a tiny model learns in seconds)::

    closed book:  <bos> q : richard partners ( ric ) net income q1 2023 ? a :  110 <eos>
    with context: <bos> ctx : <chunk> | <chunk> | <chunk> q : ... ? a :  1 1 0 <eos>

Training mixes (see :class:`ReaderConfig`):

* closed-book questions on ``"seen"`` facts with their answers, each drawn in proportion to its ``frequency``
  (so common facts are memorised first and rare ones maybe never);
* closed-book questions on ``"abstain"`` facts with the answer ``unknown``: abstention is *learned*, and whether
  it transfers to the ``"unseen"`` facts (never in training) is what the lessons measure;
* context questions on every fact: 1 to ``k_context`` chunks (other fact sentences of the same filing as distractors) that contain the answer's sentence with probability ``1 - p_no_gold``, else only
  distractors, with the answer ``unknown``.  The model learns to copy a figure from its context, and to abstain
  when the context does not state it.  In a share ``p_counterfactual`` of them the figure in the answer's sentence
  is replaced by a random number (and so is the answer), so memory cannot answer them: only reading can.  For
  ``"unseen"`` facts this replacement is always made, so their true figures never enter the weights (their
  questions do, with made-up figures in the context: reading practice, not knowledge).

:func:`answer` decodes greedily and returns, for every question, the text, the parsed number (or None), whether
it abstained, and the per-token logits of the answer, so the confidence can be temperature-scaled later.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..models import Batch, TinyLM, TinyLMConfig, Tokenizer, cached, generate, next_token_loss_fn, train
from ..models.tokenizer import EOS, PAD
from ..validation import fraction, positive_int

__all__ = ["UNKNOWN", "ReaderConfig", "Reader", "Answer", "normalise", "format_prompt", "build_tokenizer",
           "train_reader", "answer", "parse_answer", "gold_context", "distractors", "counterfactual", "probe_history"]

#: The answer the model is taught to give when it does not know.
UNKNOWN = "unknown"
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")


def normalise(text: str) -> str:
    """Lower case with thousands separators dropped, so a figure is one word: ``"$4,821"`` -> ``"$4821"``
    (which the word-level tokenizer splits into ``$`` and ``4821``)."""
    return re.sub(r"\s+", " ", _THOUSANDS.sub("", text.lower())).strip()


def _question(item) -> str:
    return normalise(f"q : {item.company} ( {item.ticker} ) {item.metric} {item.period} ? a :")


def format_prompt(item, context: Optional[Sequence[str]] = None) -> str:
    """The prompt text for a :class:`~frontier.knowledge.qa.QAItem`, closed-book (``context=None``) or with chunks."""
    if context is None:
        return _question(item)
    return "ctx : " + " | ".join(normalise(c) for c in context) + " " + _question(item)


def _answer_text(value: Optional[int]) -> str:
    return UNKNOWN if value is None else normalise(str(int(value)))


def parse_answer(text: str) -> Tuple[Optional[int], bool]:
    """``(value, abstained)`` from a decoded answer: ``"110"`` or ``"- 110"`` -> ``(110, False)`` / ``(-110, False)``, ``"unknown"`` ->
    ``(None, True)``; anything else -> ``(None, False)`` (an attempt that is not a number, graded wrong)."""
    t = text.strip()
    if t == UNKNOWN:
        return None, True
    s = t.replace(" ", "")
    return (int(s), False) if re.fullmatch(r"-?\d+", s) else (None, False)


def build_tokenizer(corpus) -> Tokenizer:
    """A word-level tokenizer over the normalised filings, the question words and ``unknown``."""
    from ..data import METRICS
    texts = [normalise(d.text) for d in corpus.documents]
    texts += [normalise(f"{c.name} ( {c.ticker} )") for c in corpus.companies]
    texts += [normalise(" ".join(METRICS) + " " + " ".join(p.label for p in corpus.periods))]
    texts += ["ctx : | q : ? a : - " + UNKNOWN]
    return Tokenizer.word_level(texts)


@dataclass(frozen=True)
class ReaderConfig:
    """Sizes and the training mixture of the reader (see the module docstring)."""
    d_model: int = 96
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 256
    max_seq_len: int = 192
    steps: int = 1500
    batch: int = 32
    lr: float = 3e-3
    k_context: int = 1             # a context example has 1..k_context chunks
    p_closed: float = 0.3          # share of closed-book examples in a batch
    p_no_gold: float = 0.3         # share of context examples whose chunks lack the answer
    p_counterfactual: float = 0.7  # share of context examples whose stated figure is replaced by a random one
    tie_embeddings: bool = True
    seed: int = 0

    def __post_init__(self):
        for name in ("d_model", "n_layers", "n_heads", "d_ff", "max_seq_len", "steps", "batch", "k_context"):
            positive_int(name, getattr(self, name))
        fraction("p_closed", self.p_closed)
        fraction("p_no_gold", self.p_no_gold)
        fraction("p_counterfactual", self.p_counterfactual)


@dataclass
class Reader:
    """A trained reader: the model, its tokenizer and its config."""
    model: TinyLM
    tokenizer: Tokenizer
    config: ReaderConfig


def gold_context(corpus_docs: Dict[str, object], item) -> str:
    """The sentence of ``item``'s filing that states it."""
    s, e = item.spans[0]
    return corpus_docs[item.doc_id].text[s:e]


def distractors(corpus_docs: Dict[str, object], item, n: int, rng: np.random.Generator,
                exclude_gold: bool = True) -> List[str]:
    """``n`` fact sentences that do not state ``item``: from the same filing first (hard negatives), then others."""
    doc = corpus_docs[item.doc_id]
    same = [doc.text[s:e] for k, spans in doc.fact_spans.items() for s, e in spans
            if not (exclude_gold and k == item.key)]
    rng.shuffle(same)
    out = same[:n]
    keys = list(corpus_docs)
    while len(out) < n:
        d = corpus_docs[keys[int(rng.integers(len(keys)))]]
        spans = [sp for k, v in d.fact_spans.items() if k != item.key for sp in v]
        s, e = spans[int(rng.integers(len(spans)))]
        out.append(d.text[s:e])
    return out


def counterfactual(sentence: str, value: int, pool: Sequence[int], rng: np.random.Generator) -> Tuple[int, str]:
    """``sentence`` with its figure ``value`` replaced by a random other figure from ``pool``: ``(new, sentence)``.

    Training on such sentences makes the answer recoverable only by reading the context, never from memory, so the
    reader learns to copy (and real answers of held-out facts never enter the weights).
    """
    from ..data.filings import format_money
    new = int(pool[int(rng.integers(len(pool)))])
    if new == value:
        return value, sentence
    for style in range(3):
        old = format_money(value, style)
        if old in sentence:
            return new, sentence.replace(old, format_money(new, style), 1)
    return value, sentence


def _examples(corpus, items, cfg: ReaderConfig):
    docs = {d.doc_id: d for d in corpus.documents}
    seen = [i for i in items if i.split == "seen"]
    abstain = [i for i in items if i.split == "abstain"]
    closed_pool = seen + abstain
    w = np.array([i.frequency for i in seen] + [1] * len(abstain), dtype=float)
    w /= w.sum()
    return docs, closed_pool, w, list(items)


def _batch_fn(corpus, items, tok: Tokenizer, cfg: ReaderConfig):
    docs, closed_pool, w, ctx_pool = _examples(corpus, items, cfg)
    pool = sorted({f.value for f in corpus.facts()})
    if not closed_pool:
        raise ValueError("items must contain seen or abstain facts to train on")

    def make(rng: np.random.Generator) -> Batch:
        rows, masks = [], []
        for _ in range(cfg.batch):
            if rng.random() < cfg.p_closed:
                it = closed_pool[int(rng.choice(len(closed_pool), p=w))]
                prompt = format_prompt(it)
                ans = _answer_text(it.answer if it.split == "seen" else None)
            else:
                it = ctx_pool[int(rng.integers(len(ctx_pool)))]
                gold = rng.random() >= cfg.p_no_gold
                k = int(rng.integers(1, cfg.k_context + 1))
                chunks = distractors(docs, it, k - int(gold), rng)
                value = it.answer
                if gold:
                    sentence = gold_context(docs, it)
                    if it.split == "unseen" or rng.random() < cfg.p_counterfactual:
                        value, sentence = counterfactual(sentence, it.answer, pool, rng)
                    chunks.insert(int(rng.integers(len(chunks) + 1)), sentence)
                prompt = format_prompt(it, chunks)
                ans = _answer_text(value if gold else None)
            p = tok.encode(prompt, bos=True)
            a = tok.encode(ans, eos=True)
            seq = (p + a)[:cfg.max_seq_len]
            rows.append(seq)
            masks.append([False] * len(p) + [True] * (len(seq) - len(p)))
        T = max(len(r) for r in rows)
        tokens = torch.full((len(rows), T), PAD, dtype=torch.int64)
        mask = torch.zeros((len(rows), T), dtype=torch.bool)
        for b, (r, m) in enumerate(zip(rows, masks)):
            tokens[b, :len(r)] = torch.tensor(r)
            mask[b, :len(m)] = torch.tensor(m)
        return Batch(tokens, mask)
    return make


def train_reader(corpus, items, cfg: ReaderConfig = ReaderConfig(), *, name: str = "knowledge-reader",
                 progress: bool = True, use_cache: bool = True, probes: int = 10):
    """Train (or load from the model cache) a reader on ``items`` of ``corpus``; returns ``(reader, log)``.

    *Factual probing*: ``probes`` times during training (0: never) the reader answers every seen and unseen item
    closed-book, and the log records, per item, whether it was right (``log.evals[i]["correct"]``, a list in
    ``items`` order, None for abstain items) and the accuracy per training frequency (``"acc_x<f>"``) and the
    abstention rate on unseen facts (``"abstain_unseen"``).  ``log`` is the
    :class:`~frontier.models.TrainLog`, or its dict form when the model came from the cache
    (:func:`probe_history` reads either).
    """
    probes = int(probes)
    if not isinstance(cfg, ReaderConfig):
        raise TypeError(f"cfg must be a ReaderConfig, got {type(cfg).__name__}")
    tok = build_tokenizer(corpus)
    mcfg = TinyLMConfig(vocab_size=tok.vocab_size, d_model=cfg.d_model, n_layers=cfg.n_layers,
                        n_heads=cfg.n_heads, d_ff=cfg.d_ff, max_seq_len=cfg.max_seq_len)
    batches = _batch_fn(corpus, items, tok, cfg)

    def build():
        model = TinyLM(mcfg, seed=cfg.seed)
        if cfg.tie_embeddings:      # output layer = input embedding (as GPT-2): copying a token is then natural
            model.head.weight = model.embedding.weight
        return model

    probe_idx = [i for i, it in enumerate(items) if it.split != "abstain"]

    def probe(model):
        ans = answer(Reader(model, tok, cfg), [items[i] for i in probe_idx])
        ok: List[Optional[bool]] = [None] * len(items)
        for i, a in zip(probe_idx, ans):
            ok[i] = (not a.abstained and a.value == items[i].answer) if items[i].split == "seen" else a.abstained
        out: Dict[str, object] = {"correct": ok}
        for f in sorted({it.frequency for it in items if it.split == "seen"}):
            sel = [ok[i] for i, it in enumerate(items) if it.split == "seen" and it.frequency == f]
            out[f"acc_x{f}"] = float(np.mean(sel))
        uns = [ok[i] for i, it in enumerate(items) if it.split == "unseen"]
        out["abstain_unseen"] = float(np.mean(uns)) if uns else float("nan")
        return out

    def fit(model):
        return train(model, next_token_loss_fn(True), batches, cfg.steps, lr=cfg.lr, warmup=cfg.steps // 10,
                     schedule="cosine", seed=cfg.seed, progress=progress, desc=name,
                     eval_fn=probe if probes > 0 else None, eval_every=max(1, cfg.steps // max(probes, 1)),
                     record_every=max(1, cfg.steps // 20))

    if use_cache:
        from ..models.cache import source_digest
        key = {"cfg": dataclasses.asdict(cfg), "corpus_seed": corpus.seed, "n_companies": len(corpus.companies),
               # the helpers that make the training data (the cache covers only build and fit themselves)
               "data_code": source_digest(_batch_fn, _examples, counterfactual, distractors, gold_context,
                                          format_prompt, _question, _answer_text, normalise, build_tokenizer),
               "n_periods": len(corpus.periods),
               "items": [(i.key, i.split, i.frequency, i.answer) for i in items], "probes": probes}
        model, log = cached(name, build, fit, key=key, return_result=True, verbose=progress)
    else:
        model = build()
        log = fit(model)
    return Reader(model, tok, cfg), log


def probe_history(log) -> Dict[str, np.ndarray]:
    """The factual-probing records of a training log (a TrainLog or its cached dict form): ``step (n,)``,
    ``correct (n, n_items)`` (NaN for abstain items) and each ``acc_x<f>`` / ``abstain_unseen`` as ``(n,)``."""
    steps = log.eval_step if hasattr(log, "eval_step") else log["eval_step"]
    evals = log.evals if hasattr(log, "evals") else log["evals"]
    out = {"step": np.array(steps)}
    out["correct"] = np.array([[np.nan if v is None else float(v) for v in e["correct"]] for e in evals])
    for key in evals[0] if evals else []:
        if key != "correct":
            out[key] = np.array([e[key] for e in evals], dtype=float)
    return out


@dataclass(frozen=True)
class Answer:
    """A reader's answer: decoded ``text``, parsed ``value`` (None if abstained or malformed), ``abstained``,
    ``confidence`` = probability of the whole answer (its tokens and the end token) at temperature 1, and the
    answer's ``logits`` ``(n_tokens, vocab)`` with the chosen ``token_ids`` for temperature scaling."""
    text: str
    value: Optional[int]
    abstained: bool
    confidence: float
    logits: np.ndarray
    token_ids: np.ndarray


@torch.no_grad()
def answer(reader: Reader, items: Sequence, contexts: Optional[Sequence[Optional[Sequence[str]]]] = None,
           *, max_new_tokens: int = 8) -> List[Answer]:
    """Greedy answers to ``items``, closed-book (``contexts=None``) or each with its list of chunk texts.

    Prompts are grouped by length and decoded in batches (no padding inside a prompt).
    """
    if contexts is not None and len(contexts) != len(items):
        raise ValueError(f"contexts must have one entry per item, got {len(contexts)} for {len(items)} items")
    tok, model = reader.tokenizer, reader.model
    prompts = []
    for i, it in enumerate(items):
        ids = tok.encode(format_prompt(it, None if contexts is None else contexts[i]), bos=True)
        prompts.append(ids[-(reader.config.max_seq_len - max_new_tokens):])
    out: List[Optional[Answer]] = [None] * len(items)
    groups: Dict[int, List[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    for T, idx in groups.items():
        for s in range(0, len(idx), 64):
            part = idx[s:s + 64]
            x = torch.tensor([prompts[i] for i in part], dtype=torch.int64)
            seq = generate(model, x, max_new_tokens, temperature=0.0, stop_token=EOS)
            logits = model(seq).logits[:, T - 1:-1].float()                 # (B, n, V): predicts seq[:, T:]
            for b, i in enumerate(part):
                new = seq[b, T:].tolist()
                n = new.index(EOS) + 1 if EOS in new else len(new)
                z = logits[b, :n].numpy()
                ids = np.array(new[:n])
                lp = torch.log_softmax(logits[b, :n], -1).numpy()[np.arange(n), ids].sum()
                text = tok.decode(new[:n])
                value, abstained = parse_answer(text)
                out[i] = Answer(text, value, abstained, float(np.exp(lp)), z, ids)
    return out  # type: ignore[return-value]

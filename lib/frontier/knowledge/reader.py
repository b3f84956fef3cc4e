"""A tiny language model that answers questions about the corpus closed-book or from retrieved chunks.

One :class:`~frontier.models.TinyLM` learns two formats (word-level tokens; every figure of the corpus is one
token, so copying a figure from the context is a single-token copy that a tiny model learns in seconds)::

    closed book:  <bos> q : richard partners ( ric ) net income q1 2023 ? a :  110 <eos>
    with context: <bos> ctx : <chunk> | <chunk> | <chunk> q : ... ? a :  110 <eos>
    self-check:   <bos> q : ... ? a : 110 true ? :  yes <eos>      (only when ``p_self_eval > 0``)

The question can be asked in :data:`TEMPLATES` ways (word orders and phrasings over the same slots, all ending in
``? a :`` so the answer always follows the same token); training draws one of the first ``n_templates`` per
example (default 1: the first template only, as before the paraphrases existed).

Training mixes (see :class:`ReaderConfig`):

* closed-book questions on ``"seen"`` facts with their answers, each drawn in proportion to its ``frequency``
  (so common facts are memorised first and rare ones maybe never);
* closed-book questions on ``"abstain"`` facts with the answer ``unknown``: abstention is *learned*, and whether
  it transfers to the ``"unseen"`` facts (never in training) is what the lessons measure;
* with probability ``p_self_eval`` (default 0: none), a *self-evaluation* example after Kadavath et al. (2022):
  closed-book, the question with a proposed figure and ``true ?``, answered ``yes`` or ``no``.  Seen facts are shown
  their own figure (``yes``) or a different figure (``no``), half each; abstain facts are shown only different
  figures (``no``: the true figure never enters the weights); unseen facts never appear.  Half the different
  figures belong to a neighbouring seen fact (same company, or same metric and period), since those are the
  wrong answers the reader gives; the rest are any figure of the corpus.
  :func:`p_true` reads the probability of ``yes`` as the model's confidence that a proposed answer is right;
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
from ..models.tokenizer import EOS
from ..validation import fraction, positive_int

__all__ = ["UNKNOWN", "TEMPLATES", "ReaderConfig", "Reader", "Answer", "normalise", "format_prompt",
           "self_eval_prompt", "build_tokenizer", "train_reader", "answer", "p_true", "p_ik", "parse_answer",
           "gold_context", "distractors", "counterfactual", "probe_history"]

#: The answer the model is taught to give when it does not know.
UNKNOWN = "unknown"
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")


def normalise(text: str) -> str:
    """Lower case with thousands separators dropped, so a figure is one word: ``"$4,821"`` -> ``"$4821"``
    (which the word-level tokenizer splits into ``$`` and ``4821``)."""
    return re.sub(r"\s+", " ", _THOUSANDS.sub("", text.lower())).strip()


#: Ways to ask for one fact: the same slots (company, ticker, metric, period) in different orders and phrasings,
#: all ending in ``? a :``.  Template 0 is the original question format.
TEMPLATES = (
    "q : {company} ( {ticker} ) {metric} {period} ? a :",
    "q : what was the {metric} of {company} ( {ticker} ) in {period} ? a :",
    "q : {period} {metric} for {ticker} , {company} ? a :",
    "q : how much {metric} did {company} ( {ticker} ) report for {period} ? a :",
    "q : in {period} , {ticker} ( {company} ) had {metric} of how much ? a :",
)
#: The words of the self-evaluation format (added to the vocabulary only for readers trained on it).
SELF_EVAL_WORDS = ("true", "yes", "no")


def _template(template: int) -> str:
    if isinstance(template, bool) or not isinstance(template, (int, np.integer)) or not 0 <= template < len(TEMPLATES):
        raise ValueError(f"template must be an int in 0..{len(TEMPLATES) - 1}, got {template!r}")
    return TEMPLATES[int(template)]


def _question(item, template: int = 0) -> str:
    return normalise(_template(template).format(company=item.company, ticker=item.ticker, metric=item.metric,
                                                period=item.period))


def format_prompt(item, context: Optional[Sequence[str]] = None, template: int = 0) -> str:
    """The prompt text for a :class:`~frontier.knowledge.qa.QAItem`, closed-book (``context=None``) or with chunks,
    its question phrased with ``TEMPLATES[template]``."""
    if context is None:
        return _question(item, template)
    return "ctx : " + " | ".join(normalise(c) for c in context) + " " + _question(item, template)


def self_eval_prompt(item, value: int, template: int = 0) -> str:
    """The self-evaluation prompt: the closed-book question, a proposed figure ``value`` and ``true ? :``, e.g.
    ``q : richard partners ( ric ) net income q1 2023 ? a : 110 true ? :`` (answered ``yes`` or ``no``)."""
    return _question(item, template) + " " + _answer_text(int(value)) + " true ? :"


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


def build_tokenizer(corpus, extra_words: Sequence[str] = ()) -> Tokenizer:
    """A word-level tokenizer over the normalised filings, the question words and ``unknown``, plus
    ``extra_words`` (texts; none by default, so the vocabulary, and every model trained on it, stays as it was)."""
    from ..data import METRICS
    texts = [normalise(d.text) for d in corpus.documents]
    texts += [normalise(f"{c.name} ( {c.ticker} )") for c in corpus.companies]
    texts += [normalise(" ".join(METRICS) + " " + " ".join(p.label for p in corpus.periods))]
    texts += ["ctx : | q : ? a : - " + UNKNOWN]
    texts += [normalise(w) for w in extra_words]
    return Tokenizer.word_level(texts)


def _extra_words(cfg: "ReaderConfig") -> List[str]:
    """The words a config's formats need beyond the default vocabulary (none for the default config)."""
    out = [re.sub(r"\{\w+\}", " ", t) for t in TEMPLATES[1:cfg.n_templates]]
    if cfg.p_self_eval > 0:
        out.append(" ".join(SELF_EVAL_WORDS))
    return out


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
    n_templates: int = 1           # question phrasings used in training: TEMPLATES[0 .. n_templates - 1]
    p_self_eval: float = 0.0       # share of self-evaluation examples ("... ? a : <figure> true ? :" -> yes / no)

    def __post_init__(self):
        for name in ("d_model", "n_layers", "n_heads", "d_ff", "max_seq_len", "steps", "batch", "k_context"):
            positive_int(name, getattr(self, name))
        fraction("p_closed", self.p_closed)
        fraction("p_no_gold", self.p_no_gold)
        fraction("p_counterfactual", self.p_counterfactual)
        fraction("p_self_eval", self.p_self_eval)
        if not 1 <= positive_int("n_templates", self.n_templates) <= len(TEMPLATES):
            raise ValueError(f"n_templates must be in 1..{len(TEMPLATES)}, got {self.n_templates}")


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


def _neighbour_figures(items) -> Dict[Tuple[str, str, str], List[int]]:
    """Per fact key, the figures of the *seen* facts next to it (same company, or same metric and period), its
    own figure excluded: the confusions a reader makes when it does not know a fact."""
    seen = [i for i in items if i.split == "seen"]
    return {it.key: sorted({j.answer for j in seen if j.answer != it.answer and j.key != it.key and
                            (j.ticker == it.ticker or (j.metric, j.period) == (it.metric, it.period))})
            for it in items}


def _self_eval_example(it, pool: Sequence[int], near: Sequence[int], rng: np.random.Generator,
                       template: int) -> Tuple[str, str]:
    """A self-evaluation prompt and its label: a seen fact with its own figure (``yes``) half the time; otherwise
    (and always for an abstain fact) a different figure (``no``), half the time from ``near`` (figures of
    neighbouring seen facts: the wrong answers a reader actually gives) and else from the whole ``pool``."""
    if it.split == "seen" and rng.random() < 0.5:
        return self_eval_prompt(it, it.answer, template), "yes"
    if len(near) and rng.random() < 0.5:
        return self_eval_prompt(it, int(near[int(rng.integers(len(near)))]), template), "no"
    value = it.answer
    while value == it.answer:
        value = int(pool[int(rng.integers(len(pool)))])
    return self_eval_prompt(it, value, template), "no"


def _batch_fn(corpus, items, tok: Tokenizer, cfg: ReaderConfig):
    docs, closed_pool, w, ctx_pool = _examples(corpus, items, cfg)
    pool = sorted({f.value for f in corpus.facts()})
    if not closed_pool:
        raise ValueError("items must contain seen or abstain facts to train on")
    if cfg.p_self_eval > 0 and len(pool) < 2:
        raise ValueError("self-evaluation needs at least two distinct figures in the corpus")
    near = _neighbour_figures(items) if cfg.p_self_eval > 0 else {}

    def make(rng: np.random.Generator) -> Batch:
        rows, masks = [], []
        for _ in range(cfg.batch):
            # extra draws only for the optional formats, so the default config's random stream is unchanged
            tpl = int(rng.integers(cfg.n_templates)) if cfg.n_templates > 1 else 0
            if cfg.p_self_eval > 0 and rng.random() < cfg.p_self_eval:
                it = closed_pool[int(rng.choice(len(closed_pool), p=w))]
                prompt, ans = _self_eval_example(it, pool, near[it.key], rng, tpl)
            elif rng.random() < cfg.p_closed:
                it = closed_pool[int(rng.choice(len(closed_pool), p=w))]
                prompt = format_prompt(it, template=tpl)
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
                prompt = format_prompt(it, chunks, tpl)
                ans = _answer_text(value if gold else None)
            p = tok.encode(prompt, bos=True)
            a = tok.encode(ans, eos=True)
            seq = (p + a)[:cfg.max_seq_len]
            rows.append(seq)
            masks.append([False] * len(p) + [True] * (len(seq) - len(p)))
        return Batch.from_rows(rows, masks)
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
    tok = build_tokenizer(corpus, _extra_words(cfg))
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
                                          format_prompt, _question, _answer_text, normalise, build_tokenizer,
                                          _template, _extra_words, _self_eval_example, self_eval_prompt,
                                          _neighbour_figures),
               "templates": TEMPLATES, "self_eval_words": SELF_EVAL_WORDS,
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
           *, max_new_tokens: int = 8, template: int = 0) -> List[Answer]:
    """Greedy answers to ``items``, closed-book (``contexts=None``) or each with its list of chunk texts, the
    questions phrased with ``TEMPLATES[template]``.

    Prompts are grouped by length and decoded in batches (no padding inside a prompt).
    """
    if contexts is not None and len(contexts) != len(items):
        raise ValueError(f"contexts must have one entry per item, got {len(contexts)} for {len(items)} items")
    _template(template)
    tok, model = reader.tokenizer, reader.model
    prompts = []
    for i, it in enumerate(items):
        ids = tok.encode(format_prompt(it, None if contexts is None else contexts[i], template), bos=True)
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


@torch.no_grad()
def _last_logits(reader: Reader, texts: Sequence[str]) -> torch.Tensor:
    """The next-token logits ``(N, vocab)`` after each prompt text (with ``<bos>``), batched by length."""
    ids = [reader.tokenizer.encode(t, bos=True) for t in texts]
    out = torch.empty((len(ids), reader.tokenizer.vocab_size))
    groups: Dict[int, List[int]] = {}
    for i, p in enumerate(ids):
        groups.setdefault(len(p), []).append(i)
    for idx in groups.values():
        for s in range(0, len(idx), 128):
            part = idx[s:s + 128]
            x = torch.tensor([ids[i] for i in part], dtype=torch.int64)
            out[part] = reader.model(x).logits[:, -1].float()
    return out


def p_true(reader: Reader, items: Sequence, proposed_values: Sequence[int], *, template: int = 0) -> np.ndarray:
    """P(True) (Kadavath et al. 2022): the reader's probability that ``proposed_values[i]`` answers ``items[i]``.

    The reader sees :func:`self_eval_prompt` (closed-book question, proposed figure, ``true ?``) and this returns
    p(yes) / (p(yes) + p(no)) at the next token, shape ``(N,)``, in [0, 1].  Needs a reader trained with
    ``p_self_eval > 0``; score only attempted answers (a proposed value is an int, never None).
    """
    if not isinstance(reader, Reader):
        raise TypeError(f"reader must be a Reader, got {type(reader).__name__}")
    if len(proposed_values) != len(items):
        raise ValueError(f"proposed_values must have one value per item, got {len(proposed_values)} for "
                         f"{len(items)} items")
    yes, no = (reader.tokenizer.token_to_id(w) for w in ("yes", "no"))
    if yes is None or no is None or reader.config.p_self_eval <= 0:
        raise ValueError("reader must be trained with p_self_eval > 0 (its vocabulary has no yes / no)")
    texts = []
    for i, (it, v) in enumerate(zip(items, proposed_values)):
        if v is None or isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"proposed_values[{i}] must be an int figure, got {v!r} (score only attempted answers)")
        texts.append(self_eval_prompt(it, int(v), template))
    if not texts:
        return np.zeros(0)
    z = _last_logits(reader, texts)[:, [yes, no]].double()
    return torch.softmax(z, -1)[:, 0].numpy()


def p_ik(reader: Reader, items: Sequence, *, template: int = 0) -> np.ndarray:
    """P(IK), "I know", for a reader taught to answer ``unknown``: 1 − p(first answer token = ``unknown``) after
    the closed-book question, shape ``(N,)``.  Kadavath et al. (2022) train models to predict it; ours comes
    with the abstention the reader was taught."""
    if not isinstance(reader, Reader):
        raise TypeError(f"reader must be a Reader, got {type(reader).__name__}")
    if len(items) == 0:
        return np.zeros(0)
    unk = reader.tokenizer.token_to_id(UNKNOWN)
    z = _last_logits(reader, [format_prompt(it, None, template) for it in items]).double()
    return 1.0 - torch.softmax(z, -1)[:, unk].numpy()

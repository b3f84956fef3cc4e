"""The corpus and the trained models section 5's three lessons share, each trained once through the model cache.

* :func:`corpus`: a mixture of 4 Markov sources over 32 tokens (``frontier.models.data``), whose entropy rate,
  the best loss any model can reach once it knows the source, is computed exactly.
* :func:`target_model` (d_model 64, 2 layers, d_ff 128: rows divisible by the 32- and 64-weight quantization blocks; teacher, speculative target, merge and LoRA base) and
  :func:`draft_model` (d_model 16, 1 layer; the speculative draft), trained on the corpus.
* :func:`new_task` ``(i)``: a new single-source Markov chain the base has never seen (merging, LoRA).
* :func:`finetune` ``(base, task, ...)``: a full fine-tune of a copy of the base on a new task (cached).
* :func:`train_run`: one run of the scaling grid (a width and a token budget, cosine schedule to the end).

Sizes are fixed (SMOKE and full mode load the same cached files); the
lessons change how much they *evaluate*, not what they train.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional

import numpy as np
import torch

from ..models import TinyLM, TinyLMConfig, cached, train
from ..models.data import MarkovTask, entropy_rate, markov_mixture
from ..models.tasks import batches, next_token_loss_fn
from ..validation import nonnegative_int, positive_int

__all__ = ["CORPUS", "corpus", "corpus_entropy", "TARGET_CONFIG", "DRAFT_CONFIG", "target_model", "draft_model",
           "new_task", "finetune", "train_run", "RunSpec", "BATCH", "SEQ_LEN", "lora_adapter", "soft_prompt",
           "sequence_entropy", "scaling_grid", "run_grid", "STUDENT_CONFIG", "distillation_runs", "curriculum_runs",
           "steps_to_loss", "synthetic_corpus", "data_quality", "sequence_nll", "synthetic_data_runs",
           "related_task", "continued_pretraining"]

#: The shared corpus: ``markov_mixture(**CORPUS)`` read in sequences of :data:`SEQ_LEN` tokens.
CORPUS = dict(n_sources=4, vocab_size=32, branching=3, seed=0)
SEQ_LEN = 48
BATCH = 16
TARGET_CONFIG = TinyLMConfig(vocab_size=32, d_model=64, n_layers=2, n_heads=4, d_ff=128, max_seq_len=256)
DRAFT_CONFIG = TinyLMConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=4, d_ff=64, max_seq_len=256)
TARGET_STEPS, DRAFT_STEPS = 300, 150


@lru_cache(maxsize=None)
def corpus(seq_len: int = SEQ_LEN) -> MarkovTask:
    """The shared :class:`~frontier.models.data.MarkovTask` (4 sources, 32 tokens, branching 3)."""
    return MarkovTask(markov_mixture(**CORPUS), positive_int("seq_len", seq_len))


def corpus_entropy() -> float:
    """The corpus's entropy rate (nats/token): the loss floor ``E`` once the source is known."""
    return entropy_rate(corpus().source)


def _lm_trainer(task, steps: int, lr: float, seed: int, desc: str, progress: bool = True):
    def train_fn(model):
        return train(model, next_token_loss_fn(), batches(task, BATCH), steps, lr=lr, warmup=max(1, steps // 10),
                     schedule="cosine", progress=progress, seed=seed, desc=desc)
    return train_fn


def _cached_lm(name: str, cfg: TinyLMConfig, task, steps: int, lr: float, seed: int, progress: bool = True):
    key = {"cfg": cfg, "corpus": CORPUS, "seq_len": task.seq_len, "steps": steps, "lr": lr, "seed": seed,
           "batch": BATCH}
    return cached(name, lambda: TinyLM(cfg, seed=seed), _lm_trainer(task, steps, lr, seed, name, progress),
                  key=key, return_result=True)


def target_model(seed: int = 0):
    """``(model, train log dict)``: the target / teacher / base model, trained once and cached."""
    return _cached_lm("s5-target", TARGET_CONFIG, corpus(), TARGET_STEPS, 3e-3, nonnegative_int("seed", seed))


def draft_model(seed: int = 0):
    """``(model, train log dict)``: the small draft model (about 1/15 of the target's parameters)."""
    return _cached_lm("s5-draft", DRAFT_CONFIG, corpus(), DRAFT_STEPS, 3e-3, nonnegative_int("seed", seed))


@lru_cache(maxsize=None)
def new_task(i: int) -> MarkovTask:
    """New task ``i`` (0, 1, ...): one Markov source over the corpus's 32 tokens with branching 2 (seeded by ``i``)."""
    mix = markov_mixture(1, CORPUS["vocab_size"], branching=2, shared_vocab=True, seed=100 + nonnegative_int("i", i))
    return MarkovTask(mix, SEQ_LEN)


def finetune(name: str, base: torch.nn.Module, task: MarkovTask, steps: int = 100, lr: float = 1e-3, seed: int = 0):
    """``(copy of base fine-tuned on task, log)``: every parameter trained, cached under ``name``."""
    state = {k: v.clone() for k, v in base.state_dict().items()}
    cfg = base.config

    def build():
        m = TinyLM(cfg, seed=0)
        m.load_state_dict(state)
        return m
    key = {"cfg": cfg, "base": float(sum(v.double().sum() for v in state.values())),
           "task": float(task.source.transitions.sum()), "seq_len": task.seq_len, "batch": BATCH, "steps": steps, "lr": lr, "seed": seed}
    return cached(name, build, _lm_trainer(task, steps, lr, seed, name), key=key, return_result=True)


@dataclass(frozen=True)
class RunSpec:
    """One run of the scaling grid: a width (``d_model``, 2 layers, ``d_ff = 4 d_model``, 4 heads, fewer below
    width 16 so that heads keep 4 dimensions) and a number of steps."""

    d_model: int
    steps: int
    n_layers: int = 2

    @property
    def config(self) -> TinyLMConfig:
        heads = 4 if self.d_model >= 16 else self.d_model // 4         # head_dim >= 4 (RoPE)
        return TinyLMConfig(vocab_size=CORPUS["vocab_size"], d_model=self.d_model, n_layers=self.n_layers,
                            n_heads=heads, d_ff=4 * self.d_model, max_seq_len=SEQ_LEN)

    @property
    def tokens(self) -> int:
        """Training tokens ``D``: steps x batch x (seq_len - 1) predicted positions."""
        return self.steps * BATCH * (SEQ_LEN - 1)


def train_run(spec: RunSpec, *, lr: float = 3e-3, seed: int = 0, progress: bool = False):
    """``(model, log)`` for one grid run on the shared corpus: cosine schedule over exactly ``spec.steps``
    (Chinchilla's matched schedule)."""
    return _cached_lm(f"s5-scale-d{spec.d_model}-s{spec.steps}", spec.config, corpus(), spec.steps, lr, seed,
                      progress=progress)


def _adapter_key(base, task, extra) -> dict:
    state = base.state_dict()
    return {"base": float(sum(v.double().sum() for v in state.values())), "cfg": base.config,
            "task": float(task.source.transitions.sum()), "seq_len": task.seq_len, "batch": BATCH, **extra}


def lora_adapter(name: str, base: torch.nn.Module, task: MarkovTask, rank: int, *, targets=None, rslora: bool = False,
                 alpha: Optional[float] = None, steps: int = 100, lr: float = 1e-2, seed: int = 0):
    """``(LoRA adapter for base trained on task, log)``, cached; returned *detached* (call ``.attach(base)``).

    Only the adapter's ``A`` and ``B`` train (:func:`frontier.models.train` with ``params=``); the base is unchanged.
    """
    from .lora import LoRA

    def build():
        return LoRA(base, rank, targets=targets, alpha=alpha, rslora=rslora, seed=seed, attach=False)

    def train_fn(adapter):
        adapter.attach(base)
        try:
            return train(base, next_token_loss_fn(), batches(task, BATCH), steps, lr=lr, warmup=max(1, steps // 10),
                         schedule="cosine", params=list(adapter.parameters()), seed=seed, desc=name)
        finally:
            adapter.detach()
    key = _adapter_key(base, task, {"rank": rank, "targets": targets, "rslora": rslora, "alpha": alpha,
                                    "steps": steps, "lr": lr, "seed": seed})
    return cached(name, build, train_fn, key=key, return_result=True)


def soft_prompt(name: str, base: torch.nn.Module, task: MarkovTask, n_virtual: int, *, kind: str = "prompt",
                steps: int = 100, lr: float = 1e-2, seed: int = 0):
    """``(PromptTuning or PrefixTuning module trained on task, log)``, cached; the base stays frozen."""
    import torch.nn.functional as F

    from .lora import PrefixTuning, PromptTuning

    if kind not in ("prompt", "prefix"):
        raise ValueError(f"kind must be 'prompt' or 'prefix', got {kind!r}")
    cls = PromptTuning if kind == "prompt" else PrefixTuning

    def build():
        return cls(base, n_virtual, seed=seed)

    def train_fn(module):
        def loss_fn(model, batch):
            logits = module(batch.tokens)
            V = logits.shape[-1]
            return F.cross_entropy(logits[:, :-1].reshape(-1, V), batch.tokens[:, 1:].reshape(-1)), {}
        return train(base, loss_fn, batches(task, BATCH), steps, lr=lr, warmup=max(1, steps // 10), schedule="cosine",
                     params=list(module.parameters()), seed=seed, desc=name)
    key = _adapter_key(base, task, {"n_virtual": n_virtual, "kind": kind, "steps": steps, "lr": lr, "seed": seed})
    return cached(name, build, train_fn, key=key, return_result=True)


# --------------------------------------------------------------------------- lesson 5.1: the scaling grid and the other levers
def sequence_entropy(mix=None, seq_len: int = SEQ_LEN) -> float:
    """The exact floor of the per-token loss on sequences of ``seq_len`` tokens (nats/token).

    Positions ``1..seq_len-1`` are scored.  The first token after ``BOS``
    comes from the mixture of the sources' start distributions; because the
    sources use disjoint blocks of the vocabulary, it reveals the source, and
    every later token costs the entropy of its source's transition row under
    that source's distribution at that position.  Slightly above
    :func:`corpus_entropy` (the long-run rate), because the first token is
    hard and the chains start away from their stationary distribution.
    """
    mix = corpus().source if mix is None else mix
    T = positive_int("seq_len", seq_len)
    first = (mix.weights[:, None] * mix.start).sum(0)
    nz = first[first > 0]
    total = float(-(nz * np.log(nz)).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(mix.transitions > 0, mix.transitions * np.log(np.where(mix.transitions > 0, mix.transitions, 1)),
                      0.0).sum(-1)                                    # (S, V)
    for s in range(mix.n_sources):
        pi = mix.start[s].copy()
        for _ in range(2, T):
            total += mix.weights[s] * float(pi @ h[s])
            pi = pi @ mix.transitions[s]
    return total / (T - 1)


def scaling_grid(widths, budgets) -> list:
    """A :class:`RunSpec` per (budget, width): steps = ``C / (6 N tokens_per_step)`` rounded, at least 10.

    ``N`` is the non-embedding parameter count of the width's model (the
    embedding lookup is a gather; Kaplan et al. leave it out).
    """
    from .distillation import non_embedding_parameters

    out = []
    tokens_per_step = BATCH * (SEQ_LEN - 1)
    for c in budgets:
        for d in widths:
            spec = RunSpec(int(d), 10)
            n = non_embedding_parameters(TinyLM(spec.config))
            out.append(RunSpec(int(d), max(10, int(round(float(c) / (6 * n * tokens_per_step))))))
    return out


def run_grid(specs, eval_tokens: torch.Tensor, *, progress: bool = True) -> Dict[str, np.ndarray]:
    """Train (or load) every run and measure its held-out loss on ``eval_tokens`` (from :func:`corpus`).

    Returns ``{"d_model", "steps", "n_params" (non-embedding), "n_tokens", "compute" (6ND), "loss",
    "train_seconds"}`` as ``(R,)`` arrays.
    """
    from .distillation import eval_loss, non_embedding_parameters

    rows = {k: [] for k in ("d_model", "steps", "n_params", "n_tokens", "compute", "loss")}
    it = specs
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(specs, desc="scaling grid")
    for spec in it:
        model, _ = train_run(spec)
        n = non_embedding_parameters(model)
        rows["d_model"].append(spec.d_model)
        rows["steps"].append(spec.steps)
        rows["n_params"].append(n)
        rows["n_tokens"].append(spec.tokens)
        rows["compute"].append(6.0 * n * spec.tokens)
        rows["loss"].append(eval_loss(model, eval_tokens)["loss"])
    return {k: np.asarray(v, dtype=float) for k, v in rows.items()}


def _curve(log) -> Dict[str, list]:
    """``{"step", "loss", "accuracy"}`` from a TrainLog or the dict the cache returns."""
    steps = log.eval_step if hasattr(log, "eval_step") else log["eval_step"]
    evals = log.evals if hasattr(log, "evals") else log["evals"]
    return {"step": list(steps), "loss": [e["loss"] for e in evals], "accuracy": [e["accuracy"] for e in evals]}


def _eval_fn(tokens):
    from .distillation import eval_loss

    return lambda m: eval_loss(m, tokens)


STUDENT_CONFIG = TinyLMConfig(vocab_size=32, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_seq_len=256)


def distillation_runs(teacher, eval_tokens: torch.Tensor, *, steps: int = 150, temperature: float = 2.0,
                      seed: int = 0) -> Dict[str, Dict[str, list]]:
    """A student (:data:`STUDENT_CONFIG`, about a quarter of the teacher's non-embedding parameters) trained on hard
    labels and on the teacher's soft distribution at ``temperature``; held-out curves ``{label: {"step", "loss",
    "accuracy"}}`` (cached)."""
    from .distillation import distillation_loss_fn

    out = {}
    for label, fn_name in (("hard labels", "hard"), (f"soft labels (T={temperature:g})", "soft")):
        def train_fn(model, fn_name=fn_name):
            loss = next_token_loss_fn() if fn_name == "hard" else distillation_loss_fn(teacher, temperature=temperature)
            return train(model, loss, batches(corpus(), BATCH), steps, lr=3e-3, warmup=max(1, steps // 10),
                         schedule="cosine", eval_fn=_eval_fn(eval_tokens), eval_every=max(1, steps // 10),
                         seed=seed, desc=f"student, {label}")
        key = {"cfg": STUDENT_CONFIG, "corpus": CORPUS, "steps": steps, "T": temperature, "seed": seed, "kind": fn_name,
               "teacher": float(sum(v.double().sum() for v in teacher.state_dict().values())),
               "eval": float(eval_tokens.double().sum()), "n_eval": int(eval_tokens.numel())}
        _, log = cached(f"s5-student-{fn_name}", lambda: TinyLM(STUDENT_CONFIG, seed=seed), train_fn, key=key,
                        return_result=True)
        out[label] = _curve(log)
    return out


def curriculum_runs(eval_tokens: torch.Tensor, *, steps: int = 200, pool_size: int = 2048, n_stages: int = 4,
                    seed: int = 0) -> Dict[str, Dict[str, list]]:
    """Easy-to-hard against random order over one pool of corpus sequences (cached).

    Difficulty of a sequence = its :func:`sequence_nll` under the true
    generator, ranked *within its source* (so every stage contains every
    source).  The curriculum trains in ``n_stages`` equal stages; stage ``k``
    draws from the easiest ``k / n_stages`` of each source's sequences (the
    last stage from the whole pool, as the random order does throughout).
    Held-out curves on the corpus.
    """
    pool_batch = corpus().sample(positive_int("pool_size", pool_size), np.random.default_rng(60_000 + seed))
    pool, src = pool_batch.tokens, pool_batch.meta["source"].numpy()
    nll = sequence_nll(pool)
    quantile = np.zeros(len(pool))
    for s in np.unique(src):
        idx = np.nonzero(src == s)[0]
        quantile[idx[np.argsort(nll[idx])]] = (np.arange(idx.size) + 1) / idx.size
    stages = [torch.from_numpy(np.nonzero(quantile <= (k + 1) / n_stages + 1e-9)[0]) for k in range(n_stages)]
    out = {}
    for label in ("random order", "easy to hard"):
        def train_fn(model, label=label):
            counter = {"i": 0}

            def batch_fn(rng):
                counter["i"] += 1
                if label == "random order":
                    return pool[rng.integers(0, len(pool), BATCH)]
                idx = stages[min(n_stages - 1, (counter["i"] - 1) * n_stages // steps)]
                return pool[idx[rng.integers(0, len(idx), BATCH)]]
            return train(model, next_token_loss_fn(), batch_fn, steps, lr=3e-3, warmup=max(1, steps // 10),
                         schedule="cosine", eval_fn=_eval_fn(eval_tokens), eval_every=max(1, steps // 20), seed=seed,
                         desc=label)
        key = {"cfg": STUDENT_CONFIG, "corpus": CORPUS, "steps": steps, "seed": seed, "label": label,
               "pool": pool_size, "stages": n_stages, "eval": float(eval_tokens.double().sum()),
               "n_eval": int(eval_tokens.numel())}
        _, log = cached(f"s5-curriculum-{label.replace(' ', '-')}", lambda: TinyLM(STUDENT_CONFIG, seed=seed),
                        train_fn, key=key, return_result=True)
        out[label] = _curve(log)
    return out


def steps_to_loss(curve: Dict[str, list], target: float) -> Optional[int]:
    """The first evaluated step at which the held-out loss is at or below ``target`` (None if never)."""
    for s, l in zip(curve["step"], curve["loss"]):
        if l <= target:
            return int(s)
    return None


@torch.no_grad()
def synthetic_corpus(teacher, n_sequences: int, *, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
    """``(n, SEQ_LEN)`` sequences sampled from ``teacher`` after ``BOS`` (batched :func:`frontier.models.generate`)."""
    from ..models import generate

    prompt = torch.zeros(positive_int("n_sequences", n_sequences), 1, dtype=torch.long)
    return generate(teacher, prompt, SEQ_LEN - 1, temperature=temperature, seed=seed)


def _owner(mix) -> np.ndarray:
    """``(V,)`` the source whose block holds each token (-1 for ``BOS``); the corpus's sources use disjoint blocks."""
    owner = np.full(mix.vocab_size, -1)
    for s in range(mix.n_sources):
        owner[mix.start[s] > 0] = s
    return owner


def sequence_nll(tokens: torch.Tensor, mix=None) -> np.ndarray:
    """``(n,)`` negative log-likelihood per token of each sequence under the true generator (nats/token).

    The first token is scored under the mixture of start distributions; every
    later transition ``a -> b`` under the source whose block holds ``b`` (an
    impossible transition costs ``-log(1e-12)``).
    """
    mix = corpus().source if mix is None else mix
    tok = tokens.numpy()
    own = _owner(mix)
    first = (mix.weights[:, None] * mix.start).sum(0)[tok[:, 1]]
    trans = mix.transitions[own[tok[:, 2:]], tok[:, 1:-1], tok[:, 2:]]
    probs = np.concatenate([first[:, None], trans], axis=1)
    return -np.log(np.maximum(probs, 1e-12)).mean(1)


def data_quality(tokens: torch.Tensor, mix=None) -> Dict[str, float]:
    """Quality and diversity of ``(n, T)`` sequences against the true generator.

    ``true_nll``: mean of :func:`sequence_nll` (real data score about the
    sequence entropy, off-distribution text more); ``invalid``: share of
    transitions no source can make; ``source_switches``: share of
    transitions that jump to another source's block (real sequences never
    do); ``distinct_bigrams``: distinct bigrams over the bigrams the corpus
    can produce; ``unique_sequences``: share of distinct sequences.
    """
    mix = corpus().source if mix is None else mix
    tok = tokens.numpy()
    own = _owner(mix)
    a, b = tok[:, 1:-1], tok[:, 2:]
    trans = mix.transitions[own[b], a, b]
    bigrams = {(x, y) for row in tok[:, 1:] for x, y in zip(row[:-1], row[1:])}
    possible = int((mix.transitions > 0).any(0).sum())
    return {"true_nll": float(sequence_nll(tokens, mix).mean()), "invalid": float((trans <= 0).mean()),
            "source_switches": float((own[a] != own[b]).mean()),
            "distinct_bigrams": len(bigrams & {(x, y) for x, y in zip(*np.nonzero((mix.transitions > 0).any(0)))})
            / possible,
            "unique_sequences": len({tuple(r) for r in tok.tolist()}) / len(tok)}


def synthetic_data_runs(teacher, eval_tokens: torch.Tensor, *, n_sequences: int = 512, steps: int = 150,
                        seed: int = 0) -> Dict[str, object]:
    """A student trained on a fixed pool of ``n_sequences`` teacher samples against one trained on the same number
    of real sequences (cached).  Returns ``{"curves": {...}, "quality": {"real": ..., "synthetic": ...}}``."""
    real = corpus().sample(n_sequences, np.random.default_rng(50_000 + seed)).tokens
    synth = synthetic_corpus(teacher, n_sequences, seed=seed)
    pools = {"real data": real, "teacher samples": synth}
    curves = {}
    for label, pool in pools.items():
        def train_fn(model, pool=pool, label=label):
            return train(model, next_token_loss_fn(), lambda rng: pool[rng.integers(0, pool.shape[0], BATCH)], steps,
                         lr=3e-3, warmup=max(1, steps // 10), schedule="cosine", eval_fn=_eval_fn(eval_tokens),
                         eval_every=max(1, steps // 10), seed=seed, desc=label)
        key = {"cfg": STUDENT_CONFIG, "pool": float(pool.double().sum()), "n": n_sequences, "steps": steps,
               "seed": seed, "eval": float(eval_tokens.double().sum()), "n_eval": int(eval_tokens.numel())}
        _, log = cached(f"s5-synthetic-{label.replace(' ', '-')}", lambda: TinyLM(STUDENT_CONFIG, seed=seed),
                        train_fn, key=key, return_result=True)
        curves[label] = _curve(log)
    return {"curves": curves, "quality": {k: data_quality(v) for k, v in pools.items()}}


@lru_cache(maxsize=None)
def related_task(seed: int = 0) -> MarkovTask:
    """A domain related to the corpus: the same sources and allowed transitions, probabilities redrawn (Dirichlet)."""
    from ..models.data import MarkovMixture

    mix = corpus().source
    gen = np.random.default_rng(200 + nonnegative_int("seed", seed))
    trans = np.zeros_like(mix.transitions)
    for s_, a in zip(*np.nonzero(mix.transitions.sum(-1) > 0)):
        nz = np.nonzero(mix.transitions[s_, a])[0]
        trans[s_, a, nz] = gen.dirichlet(np.full(nz.size, 0.5))
    return MarkovTask(MarkovMixture(trans, mix.start.copy(), mix.weights.copy()), SEQ_LEN)


def continued_pretraining(base, new: MarkovTask, old_eval: torch.Tensor, new_eval: torch.Tensor, *, label: str,
                          steps: int = 60, lr: float = 3e-3, seed: int = 0) -> Dict[str, Dict[str, float]]:
    """Continued pretraining (the trained base, ``steps`` more on the new domain) against a fresh model of the same
    shape trained on the new domain for the same ``steps`` (equal compute on the new domain; same lr, schedule and
    batches).  Returns the loss on the new and the old domain for the base, both runs (cached under ``label``)."""
    from .distillation import eval_loss

    cont, _ = finetune(f"s5-continued-{label}", base, new, steps=steps, lr=lr, seed=seed)
    scratch, _ = cached(f"s5-scratch-{label}", lambda: TinyLM(base.config, seed=seed + 1),
                        _lm_trainer(new, steps, lr, seed, "from scratch"),
                        key={"cfg": base.config, "task": float(new.source.transitions.sum()), "steps": steps,
                             "lr": lr, "seed": seed, "batch": BATCH}, return_result=True)
    out = {}
    for name, m in (("base (before)", base), ("continued pretraining", cont), ("from scratch", scratch)):
        out[name] = {"new_loss": eval_loss(m, new_eval)["loss"], "old_loss": eval_loss(m, old_eval)["loss"]}
    return out

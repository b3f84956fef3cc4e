"""Preference optimisation on a language model: a TinyLM pretrained on synthetic reviews, aligned to a known reward.

The DPO paper's IMDb experiment in miniature: there a sentiment classifier scored GPT-2's continuations of
review prefixes; here :func:`review_reward` (positive adjectives minus negative ones) scores a TinyLM's
continuations of ``"the <subject> was"``.  Because the reward is known, the reward–KL frontier of each method can
be measured exactly as the paper's Figure 2 does: mean true reward of samples against ``KL(π‖π_ref)``.

* :class:`ReviewWorld`             the vocabulary, the corpus sampler, prompts and the reward
* :func:`pretrained_review_lm`     the reference model π_ref (trained once, then loaded from the model cache)
* :func:`preference_pairs`         two continuations per prompt from π_ref, labelled by Bradley–Terry on the reward
* :func:`train_dpo_lm`             DPO (or IPO) with :func:`frontier.models.train`, logging the implicit rewards of
  chosen and rejected responses and their margin
* :func:`fit_linear_reward_model`  the RLHF reward model: Bradley–Terry on bag-of-words features
* :func:`train_rlhf_lm`            REINFORCE with a baseline against that reward model, KL-penalised per sequence
* :func:`evaluate_lm`              mean true reward and the Monte-Carlo ``KL(π‖π_ref)`` (nats per continuation)

Shapes: ``B`` prompts, ``T = PROMPT_LEN + CONT_LEN`` tokens per sequence.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from ..env import torch_threads
from ..models import Tokenizer, TinyLM, TinyLMConfig, cached, generate, sequence_logprobs, train, train_lm
from ..validation import nonnegative_float, positive_float, positive_int, rng as make_rng
from .losses import LOSSES, reward_margin

__all__ = ["ReviewWorld", "pretrained_review_lm", "PairData", "preference_pairs", "train_dpo_lm",
           "fit_linear_reward_model", "train_rlhf_lm", "evaluate_lm", "LMRun"]

SUBJECTS = ("film", "plot", "cast", "music", "ending")
POSITIVE = ("great", "superb", "lovely", "moving", "fun")
NEGATIVE = ("awful", "dull", "boring", "weak", "silly")
NEUTRAL = ("long", "quiet", "french", "modern", "old")


class ReviewWorld:
    """Two-clause reviews: ``the <s1> was <a1> and the <s2> was <a2> .``

    A review has a hidden tone (positive, negative or neutral, 1/3 each); each adjective comes from the tone's
    class with probability ``tone_strength``, else uniformly from all fifteen. The prompt is
    ``<bos> the <s1> was`` (4 tokens); the continuation is the 7 tokens after it.
    :meth:`reward` counts positive minus negative adjectives in a continuation: an integer in [-2, 2].
    """

    PROMPT_LEN = 4
    CONT_LEN = 7

    def __init__(self, tone_strength: float = 0.6):
        self.tone_strength = float(tone_strength)
        words = list(SUBJECTS + POSITIVE + NEGATIVE + NEUTRAL) + ["the", "was", "and", "."]
        self.tokenizer = Tokenizer.word_level(" ".join(words))
        ids = self.tokenizer.token_to_id
        self.score = np.zeros(self.tokenizer.vocab_size)
        self.score[[ids(w) for w in POSITIVE]] = 1.0
        self.score[[ids(w) for w in NEGATIVE]] = -1.0
        self._adj = [np.array([ids(w) for w in group]) for group in (POSITIVE, NEGATIVE, NEUTRAL)]
        self._subj = np.array([ids(w) for w in SUBJECTS])
        self._the, self._was, self._and, self._dot = ids("the"), ids("was"), ids("and"), ids(".")

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def _adjectives(self, tone: np.ndarray, g: np.random.Generator) -> np.ndarray:
        every = np.concatenate(self._adj)
        own = np.stack(self._adj)[tone, g.integers(0, 5, len(tone))]
        return np.where(g.random(len(tone)) < self.tone_strength, own, every[g.integers(0, 15, len(tone))])

    def sample(self, batch: int, seed=None) -> torch.Tensor:
        """``(batch, 11)`` token ids of whole reviews (BOS first)."""
        g = make_rng(seed)
        n = positive_int("batch", batch)
        tone = g.integers(0, 3, n)
        cols = [np.full(n, Tokenizer.BOS), np.full(n, self._the), self._subj[g.integers(0, 5, n)],
                np.full(n, self._was), self._adjectives(tone, g), np.full(n, self._and), np.full(n, self._the),
                self._subj[g.integers(0, 5, n)], np.full(n, self._was), self._adjectives(tone, g),
                np.full(n, self._dot)]
        return torch.as_tensor(np.stack(cols, axis=1))

    def prompts(self, batch: int, seed=None) -> torch.Tensor:
        """``(batch, 4)`` prompts ``<bos> the <subject> was``."""
        return self.sample(batch, seed)[:, :self.PROMPT_LEN]

    def reward(self, tokens: torch.Tensor) -> np.ndarray:
        """``(B,)`` positive minus negative adjectives among the continuation tokens of ``tokens`` ``(B, T)``."""
        t = torch.as_tensor(tokens)
        if t.ndim != 2 or t.shape[1] <= self.PROMPT_LEN:
            raise ValueError(f"tokens must be (B, T) with T > {self.PROMPT_LEN}, got {tuple(t.shape)}")
        return self.score[t[:, self.PROMPT_LEN:].numpy()].sum(axis=1)

    def features(self, tokens: torch.Tensor) -> np.ndarray:
        """``(B, V)`` bag-of-words counts of the continuation: what the RLHF reward model sees."""
        t = torch.as_tensor(tokens)[:, self.PROMPT_LEN:].numpy()
        out = np.zeros((t.shape[0], self.vocab_size))
        np.add.at(out, (np.repeat(np.arange(t.shape[0]), t.shape[1]), t.ravel()), 1.0)
        return out

    def mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` bool: True on continuation positions (the part preference losses score)."""
        m = torch.zeros(tokens.shape, dtype=torch.bool)
        m[:, self.PROMPT_LEN:] = True
        return m

    def decode(self, tokens: torch.Tensor) -> List[str]:
        return [self.tokenizer.decode(row) for row in torch.as_tensor(tokens)]


def pretrained_review_lm(world: ReviewWorld, *, steps: int = 600, seed: int = 0, progress: bool = True) -> TinyLM:
    """The reference policy π_ref: a 2-layer TinyLM (d_model 64) trained on :meth:`ReviewWorld.sample`, cached."""
    cfg = TinyLMConfig(vocab_size=world.vocab_size, d_model=64, n_layers=2, n_heads=4, d_ff=128, max_seq_len=16)

    def build() -> TinyLM:
        return TinyLM(cfg, seed=seed)

    def fit(model: TinyLM):
        return train_lm(model, lambda g: world.sample(64, g), steps, lr=3e-3, seed=seed, progress=progress,
                        desc="pretraining π_ref").as_arrays()["loss"][-5:].tolist()

    return cached("alignment-review-lm", build, fit,
                  key={"cfg": cfg.__dict__, "steps": steps, "seed": seed, "tone": world.tone_strength})


@dataclass
class PairData:
    """Preference pairs on the LM: ``chosen``/``rejected`` ``(N, T)`` tokens, their true rewards ``(N,)``, and the
    reference log-probs of their continuations ``(N,)`` (computed once)."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    chosen_reward: np.ndarray
    rejected_reward: np.ndarray
    ref_chosen: torch.Tensor
    ref_rejected: torch.Tensor

    def __len__(self) -> int:
        return int(self.chosen.shape[0])


def _continuations(model, prompts: torch.Tensor, seed) -> torch.Tensor:
    with torch_threads(1):                       # tiny tensors: one thread is fastest and steadiest
        return generate(model, prompts, ReviewWorld.CONT_LEN, temperature=1.0, seed=seed)


def preference_pairs(world: ReviewWorld, ref: TinyLM, n_pairs: int, *, reward_scale: float = 1.0,
                     labels: str = "bradley_terry", seed: int = 0) -> PairData:
    """Two continuations per prompt from ``ref``; the first wins with probability ``σ(scale·(r_1 - r_2))``
    (``labels="deterministic"``: the higher reward wins, ties at random)."""
    n = positive_int("n_pairs", n_pairs)
    scale = positive_float("reward_scale", reward_scale)
    g = make_rng(seed)
    prompts = world.prompts(n, g)
    a = _continuations(ref, prompts, int(g.integers(2 ** 31)))
    b = _continuations(ref, prompts, int(g.integers(2 ** 31)))
    ra, rb = world.reward(a), world.reward(b)
    if labels == "bradley_terry":
        first = g.random(n) < expit(scale * (ra - rb))
    elif labels == "deterministic":
        first = np.where(ra == rb, g.random(n) < 0.5, ra > rb)
    else:
        raise ValueError(f"labels must be 'bradley_terry' or 'deterministic', got {labels!r}")
    f = torch.as_tensor(first)[:, None]
    chosen, rejected = torch.where(f, a, b), torch.where(f, b, a)
    with torch.no_grad(), torch_threads(1):
        rc = sequence_logprobs(ref, chosen, world.mask(chosen))
        rr = sequence_logprobs(ref, rejected, world.mask(rejected))
    return PairData(chosen, rejected, np.where(first, ra, rb), np.where(first, rb, ra), rc, rr)


def evaluate_lm(world: ReviewWorld, policy: TinyLM, ref: TinyLM, *, n: int = 256, seed: int = 12345) -> Dict[str, float]:
    """``{"reward": mean true reward, "kl": KL(π‖π_ref) estimate}`` from ``n`` samples of π (nats per continuation).

    The KL is the Monte-Carlo mean of ``log π(y|x) - log π_ref(y|x)`` over y ~ π (unbiased; its standard error
    is reported as ``"kl_se"``).
    """
    g = make_rng(seed)
    prompts = world.prompts(positive_int("n", n), g)
    with torch.no_grad(), torch_threads(1):
        y = _continuations(policy, prompts, int(g.integers(2 ** 31)))
        m = world.mask(y)
        diff = (sequence_logprobs(policy, y, m) - sequence_logprobs(ref, y, m)).numpy()
    return {"reward": float(world.reward(y).mean()), "kl": float(diff.mean()),
            "kl_se": float(diff.std(ddof=1) / np.sqrt(len(diff)))}


@dataclass
class LMRun:
    """One alignment run: the method, β, the trained policy, the training records (``step`` and per-step metrics)
    and the evaluations (``eval_step``, ``reward``, ``kl``) along the way."""

    method: str
    beta: float
    policy: TinyLM
    records: Dict[str, List[float]] = field(default_factory=dict)
    evals: Dict[str, List[float]] = field(default_factory=dict)


def _collect(log) -> Tuple[Dict[str, List[float]], Dict[str, List[float]]]:
    rec: Dict[str, List[float]] = {"step": list(log.step), "loss": list(log.loss)}
    for m in log.metrics:
        for k, v in m.items():
            rec.setdefault(k, []).append(float(v))
    ev: Dict[str, List[float]] = {"eval_step": list(log.eval_step)}
    for m in log.evals:
        for k, v in m.items():
            ev.setdefault(k, []).append(float(v))
    return rec, ev


def train_dpo_lm(world: ReviewWorld, ref: TinyLM, data: PairData, beta: float, *, loss: str = "dpo",
                 steps: int = 150, batch: int = 32, lr: float = 1e-3, eval_every: int = 50, eval_n: int = 256,
                 seed: int = 0, progress: bool = True) -> LMRun:
    """DPO (or IPO) from a copy of ``ref`` on ``data``; records the implicit rewards of chosen and rejected
    responses, their margin and accuracy at every step, and evaluates reward and KL every ``eval_every`` steps."""
    if loss not in ("dpo", "ipo"):
        raise ValueError(f"loss must be 'dpo' or 'ipo' (ORPO has no reference), got {loss!r}")
    beta = positive_float("beta", beta)
    batch = positive_int("batch", batch)
    policy = copy.deepcopy(ref)
    fn = LOSSES[loss]

    def loss_fn(model, idx):
        c, r = data.chosen[idx], data.rejected[idx]
        pc = sequence_logprobs(model, c, world.mask(c))
        pr = sequence_logprobs(model, r, world.mask(r))
        value = fn(pc, pr, data.ref_chosen[idx], data.ref_rejected[idx], beta)
        return value, reward_margin(pc, pr, data.ref_chosen[idx], data.ref_rejected[idx], beta)

    log = train(policy, loss_fn, lambda g: torch.as_tensor(g.integers(0, len(data), batch)), steps, lr=lr,
                weight_decay=0.0, record_every=1, seed=seed, progress=progress, desc=f"{loss} β={beta:g}",
                eval_fn=lambda m: evaluate_lm(world, m, ref, n=eval_n), eval_every=eval_every)
    rec, ev = _collect(log)
    return LMRun(loss, beta, policy, rec, ev)


def fit_linear_reward_model(features_chosen: np.ndarray, features_rejected: np.ndarray, *,
                            l2: float = 1e-3) -> np.ndarray:
    """Bradley–Terry with a linear reward ``r̂(y) = w·φ(y)``: the ``w`` ``(F,)`` that maximises
    ``mean log σ(w·(φ_w - φ_l)) - (l2/2)‖w‖²`` (convex; L-BFGS). Features ``(N, F)``."""
    fc, fr = np.asarray(features_chosen, float), np.asarray(features_rejected, float)
    if fc.ndim != 2 or fc.shape != fr.shape:
        raise ValueError(f"features must be two (N, F) arrays of the same shape, got {fc.shape} and {fr.shape}")
    l2 = nonnegative_float("l2", l2)
    d = fc - fr

    def f(w: np.ndarray):
        z = d @ w
        return -log_expit(z).mean() + 0.5 * l2 * w @ w, -(d * expit(-z)[:, None]).mean(axis=0) + l2 * w

    return minimize(f, np.zeros(d.shape[1]), jac=True, method="L-BFGS-B").x


def train_rlhf_lm(world: ReviewWorld, ref: TinyLM, reward_weights: np.ndarray, beta: float, *, steps: int = 150,
                  batch: int = 32, lr: float = 1e-3, eval_every: int = 50, eval_n: int = 256, seed: int = 0,
                  progress: bool = True) -> LMRun:
    """RLHF's policy step on the LM: **REINFORCE with a baseline**.

    Each step samples ``batch`` prompts and one continuation each from the current policy, scores it with the
    reward model ``r̂ = φ(y)·w`` minus ``β·(log π(y|x) - log π_ref(y|x))`` (the sequence-level KL penalty of
    InstructGPT-style RLHF, detached), subtracts the batch mean and ascends ``mean(advantage·log π(y|x))``.
    """
    beta = positive_float("beta", beta)
    batch = positive_int("batch", batch)
    w = torch.as_tensor(np.asarray(reward_weights, float))
    if w.shape != (world.vocab_size,):
        raise ValueError(f"reward_weights must have shape ({world.vocab_size},), got {tuple(w.shape)}")
    policy = copy.deepcopy(ref)
    counter = {"n": 0}

    def loss_fn(model, prompts):
        counter["n"] += 1
        y = _continuations(model, prompts, seed * 100_003 + counter["n"])
        m = world.mask(y)
        logp = sequence_logprobs(model, y, m)
        with torch.no_grad():
            ref_logp = sequence_logprobs(ref, y, m)
            rhat = torch.as_tensor(world.features(y)) @ w
            ret = rhat - beta * (logp.detach().double() - ref_logp.double())
            adv = (ret - ret.mean()).to(logp.dtype)
        return -(adv * logp).mean(), {"reward_model": float(rhat.mean()), "true_reward": float(world.reward(y).mean()),
                                      "kl": float((logp.detach() - ref_logp).mean())}

    log = train(policy, loss_fn, lambda g: world.prompts(batch, g), steps, lr=lr, weight_decay=0.0,
                record_every=1, seed=seed, progress=progress, desc=f"RLHF β={beta:g}",
                eval_fn=lambda m: evaluate_lm(world, m, ref, n=eval_n), eval_every=eval_every)
    rec, ev = _collect(log)
    return LMRun("rlhf", beta, policy, rec, ev)

"""Speculative sampling (Leviathan et al. 2023; Chen et al. 2023), exactly, plus tree speculation and early exit.

A cheap *draft* model ``q`` proposes ``gamma`` tokens one at a time; the
*target* model ``p`` scores all of them in one forward pass; each proposal
``x`` is accepted with probability ``min(1, p(x) / q(x))``.  At the first
rejection a replacement is drawn from ``norm(max(0, p - q))``; if all
``gamma`` are accepted a *bonus* token is drawn from ``p``'s next
distribution.  Every accepted or drawn token is distributed exactly as the
target would have sampled it (facts.md section 6).

With ``alpha = E[sum_x min(p(x), q(x))]`` (the chance a proposal is accepted,
assumed the same at every position), a target call yields on average
``(1 - alpha**(gamma+1)) / (1 - alpha)`` tokens; with ``c = t_draft /
t_target`` the wall-time speedup is that divided by ``gamma c + 1``.

Shapes: ``V`` vocab_size, ``gamma`` draft length.  Probabilities are float64.
"""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..validation import fraction, nonnegative_float, positive_float, positive_int, rng as make_rng

__all__ = ["expected_tokens_per_call", "expected_speedup", "optimal_gamma", "acceptance_rate", "verify",
           "SpeculativeResult", "speculative_generate", "autoregressive_generate", "speculate_iid",
           "tree_expected_tokens", "tree_target_tokens", "simulate_tree", "layer_logits", "early_exit",
           "decode_step_seconds", "gamma_sweep", "tree_mask", "tree_round", "measure_tree"]


# --------------------------------------------------------------------------- formulas
def _gamma(gamma) -> int:
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Integral):
        raise TypeError(f"gamma must be an int >= 1 (draft tokens per target call), got {type(gamma).__name__}")
    if gamma < 1:
        raise ValueError(f"gamma must be >= 1 (draft tokens per target call), got {gamma}")
    return int(gamma)


def expected_tokens_per_call(alpha: float, gamma: int) -> float:
    """``(1 - alpha**(gamma+1)) / (1 - alpha)``: expected tokens per target call (``gamma + 1`` at ``alpha = 1``).

    ``alpha`` in [0, 1] is the acceptance rate, ``gamma >= 1`` the draft tokens
    per call.  Example: alpha 0.8, gamma 4 -> 3.36.
    """
    a = fraction("alpha", alpha)
    g = _gamma(gamma)
    if a == 1.0:
        return float(g + 1)
    return (1.0 - a ** (g + 1)) / (1.0 - a)


def expected_speedup(alpha: float, gamma: int, c: float) -> float:
    """Wall-time speedup over plain decoding, ``(1 - alpha**(gamma+1)) / ((1 - alpha)(gamma c + 1))``.

    ``c = t_draft / t_target`` (the cost of a draft call relative to a
    target call).  Example: alpha 0.8, gamma 4, c 0.05 -> 2.80.
    """
    c = nonnegative_float("c", c)
    return expected_tokens_per_call(alpha, gamma) / (_gamma(gamma) * c + 1.0)


def optimal_gamma(alpha: float, c: float, max_gamma: int = 32) -> int:
    """The ``gamma`` in ``1..max_gamma`` with the largest :func:`expected_speedup`."""
    max_gamma = positive_int("max_gamma", max_gamma)
    return max(range(1, max_gamma + 1), key=lambda g: expected_speedup(alpha, g, c))


def acceptance_rate(p, q) -> np.ndarray:
    """``sum_x min(p(x), q(x))`` over the last axis: the chance a draft token from ``q`` is accepted under ``p``."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    return np.minimum(p, q).sum(-1)


# --------------------------------------------------------------------------- the accept/reject rule
def _probs(x) -> np.ndarray:
    arr = x.detach().double().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)
    return arr


def verify(p: np.ndarray, q: np.ndarray, draft: Sequence[int], rng: np.random.Generator) -> Tuple[List[int], int]:
    """Leviathan et al.'s accept/reject rule for one round.

    Args:
        p: ``(gamma + 1, V)`` target probabilities: row ``i`` is the target's
            next-token distribution after the context and ``draft[:i]``.
        q: ``(gamma, V)`` draft probabilities the draft tokens were sampled from.
        draft: ``gamma`` proposed token ids.
        rng: a NumPy generator (uniforms for the tests, and the resampling).

    Returns:
        ``(tokens, n_accepted)``: the accepted draft tokens followed by one
        more token (the replacement from ``norm(max(0, p - q))`` at the first
        rejection, or the bonus token from ``p[gamma]``), and how many draft
        tokens were accepted.
    """
    p, q = _probs(p), _probs(q)
    g = len(draft)
    if g < 1:
        raise ValueError("draft must hold at least one token (gamma >= 1)")
    if q.shape[0] != g or p.shape[0] != g + 1 or p.shape[1] != q.shape[1]:
        raise ValueError(f"p must be ({g + 1}, V) and q ({g}, V) for {g} draft tokens, got {p.shape} and {q.shape}")
    out: List[int] = []
    for i, x in enumerate(draft):
        x = int(x)
        if rng.random() * q[i, x] < p[i, x]:         # u < p/q without dividing (q(x) > 0: x was sampled from q)
            out.append(x)
            continue
        resid = np.maximum(p[i] - q[i], 0.0)
        total = resid.sum()
        if total <= 0:                               # p == q up to rounding: a rejection cannot happen in exact arithmetic
            resid, total = p[i], p[i].sum()
        out.append(int(rng.choice(resid.size, p=resid / total)))
        return out, i
    out.append(int(rng.choice(p.shape[1], p=p[g] / p[g].sum())))
    return out, g


# --------------------------------------------------------------------------- synthetic pair with known alpha
def speculate_iid(p, q, gamma: int, n_calls: int, seed=0) -> Dict[str, np.ndarray]:
    """Speculative sampling where target and draft ignore the context: tokens i.i.d. from ``p`` (target), ``q`` (draft).

    The acceptance rate is then exactly ``alpha = sum_x min(p, q)`` at every
    position, so the tokens per call follow the formula exactly in
    expectation.  Runs ``n_calls`` rounds.

    Returns:
        ``{"tokens": (n,) all emitted tokens, "first": (n_calls,) the first
        token of each round, "per_call": (n_calls,) tokens emitted per call,
        "accepted": (n_calls,) draft tokens accepted}``.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.ndim != 1 or p.shape != q.shape or np.any(p < 0) or np.any(q < 0):
        raise ValueError("p and q must be nonnegative (V,) distributions of the same shape")
    p, q = p / p.sum(), q / q.sum()
    g = _gamma(gamma)
    n_calls = positive_int("n_calls", n_calls)
    gen = make_rng(seed)
    P, Q = np.tile(p, (g + 1, 1)), np.tile(q, (g, 1))
    tokens, first, per_call, accepted = [], [], [], []
    for _ in range(n_calls):
        draft = gen.choice(q.size, size=g, p=q)
        out, n = verify(P, Q, draft, gen)
        tokens.extend(out)
        first.append(out[0])
        per_call.append(len(out))
        accepted.append(n)
    return {"tokens": np.array(tokens), "first": np.array(first), "per_call": np.array(per_call),
            "accepted": np.array(accepted)}


# --------------------------------------------------------------------------- with language models
@dataclass
class SpeculativeResult:
    """What :func:`speculative_generate` did.

    ``tokens`` ``(1, T + n)`` the prompt and the new tokens; ``target_calls``
    and ``draft_calls`` forward passes after the prompt; ``accepted`` draft
    tokens accepted per round; ``alpha_per_position`` ``sum_x min(p, q)`` at
    every drafted position the target checked; ``seconds`` wall time of the
    whole call and ``cpu_seconds`` the CPU time of the calling thread (what
    the call cost when other programs share the cores).
    """

    tokens: torch.Tensor
    target_calls: int
    draft_calls: int
    accepted: List[int] = field(default_factory=list)
    alpha_per_position: List[float] = field(default_factory=list)
    seconds: float = 0.0
    gamma: int = 1
    cpu_seconds: float = 0.0

    @property
    def new_tokens(self) -> int:
        return int(sum(self.accepted)) + len(self.accepted)

    @property
    def tokens_per_call(self) -> float:
        """New tokens per target call (the quantity the formula predicts)."""
        return self.new_tokens / max(1, self.target_calls)

    @property
    def alpha(self) -> float:
        """Mean of ``sum_x min(p, q)`` over the checked positions (the formula's alpha, measured)."""
        return float(np.mean(self.alpha_per_position)) if self.alpha_per_position else float("nan")

    @property
    def acceptance_rate(self) -> float:
        """Accepted draft tokens / draft tokens the target examined (a rejected one counts; unexamined do not)."""
        examined = sum(a + (1 if a < self.gamma else 0) for a in self.accepted)
        return sum(self.accepted) / max(1, examined)


def _dist(logits: torch.Tensor, temperature: float) -> np.ndarray:
    """``(..., V)`` logits -> float64 probabilities at ``temperature`` (one-hot argmax at 0)."""
    z = logits.detach().double()
    if temperature == 0:
        out = torch.zeros_like(z)
        out.scatter_(-1, z.argmax(-1, keepdim=True), 1.0)
        return out.numpy()
    return torch.softmax(z / temperature, dim=-1).numpy()


def _check_pair(target, draft):
    vt, vd = target.config.vocab_size, draft.config.vocab_size
    if vt != vd:
        raise ValueError(f"target and draft must share a vocabulary, got vocab sizes {vt} and {vd}")


@torch.no_grad()
def speculative_generate(target, draft, prompt: torch.Tensor, max_new_tokens: int, *, gamma: int = 4,
                         temperature: float = 1.0, seed=0) -> SpeculativeResult:
    """Sample ``max_new_tokens`` from ``target`` with speculative sampling, ``draft`` proposing ``gamma`` at a time.

    Both models are :class:`~frontier.models.LanguageModel` s with a
    :class:`~frontier.models.KVCache` (rolled back with ``truncate`` after a
    rejection).  ``prompt`` is ``(1, T)`` (batch 1).  The output is
    distributed exactly as ``generate(target, ..., temperature=temperature)``
    (``temperature = 0``: greedy, and then identical to greedy decoding).

    Returns:
        A :class:`SpeculativeResult` (the last round may overshoot
        ``max_new_tokens``; ``tokens`` is cut to it).
    """
    _check_pair(target, draft)
    g = _gamma(gamma)
    n_new = positive_int("max_new_tokens", max_new_tokens)
    temperature = nonnegative_float("temperature", temperature)
    if not isinstance(prompt, torch.Tensor) or prompt.ndim != 2 or prompt.shape[0] != 1:
        raise ValueError("prompt must be a (1, T) integer tensor (speculative decoding here runs batch 1)")
    T0 = prompt.shape[1]
    limit = min(target.max_seq_len, draft.max_seq_len)
    if T0 + n_new + g + 1 > limit:
        raise ValueError(f"prompt ({T0}) + max_new_tokens ({n_new}) + gamma + 1 exceeds max_seq_len {limit}")
    gen = make_rng(seed)
    start, cpu0 = time.perf_counter(), time.thread_time()
    target.eval(), draft.eval()
    tc, dc = target.new_cache(1), draft.new_cache(1)
    if T0 > 1:
        target(prompt[:, :-1], cache=tc)
        draft(prompt[:, :-1], cache=dc)
    seq = prompt[0].tolist()
    pending_t, pending_d = [seq[-1]], [seq[-1]]        # committed tokens not yet in each cache
    res = SpeculativeResult(prompt, 0, 0, gamma=g)
    while len(seq) - T0 < n_new:
        # draft gamma tokens
        q_rows, proposal = [], []
        feed = pending_d
        for _ in range(g):
            logits = draft(torch.tensor([feed]), cache=dc).logits[0, -1]
            res.draft_calls += 1
            q = _dist(logits, temperature)
            x = int(gen.choice(q.size, p=q / q.sum()))
            q_rows.append(q)
            proposal.append(x)
            feed = [x]
        # one target pass over the pending token and the proposals
        L_t = tc.length
        logits = target(torch.tensor([pending_t + proposal]), cache=tc).logits[0, len(pending_t) - 1:]
        res.target_calls += 1
        P = _dist(logits, temperature)                 # (gamma + 1, V)
        Q = np.stack(q_rows)
        out, n = verify(P, Q, proposal, gen)
        res.alpha_per_position.extend(acceptance_rate(P[: min(n + 1, g)], Q[: min(n + 1, g)]).tolist())
        res.accepted.append(n)
        seq.extend(out)
        # roll back: keep what was committed; the last emitted token is pending for both models
        tc.truncate(L_t + len(pending_t) + n)
        keep_d = L_t + len(pending_t) + n
        if dc.length > keep_d:
            dc.truncate(keep_d)
        missing = seq[dc.length: len(seq) - 1]
        pending_t = [out[-1]]
        pending_d = missing + [out[-1]]
    res.tokens = torch.tensor([seq[: T0 + n_new]])
    res.seconds = time.perf_counter() - start
    res.cpu_seconds = time.thread_time() - cpu0
    return res


@torch.no_grad()
def autoregressive_generate(model, prompt: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                            seed=0, clock: str = "wall") -> Tuple[torch.Tensor, float]:
    """Plain decoding with the same sampler as :func:`speculative_generate` (one call per token).

    Returns ``((1, T + n) tokens, seconds)``: the baseline for speedups;
    ``clock="thread"`` reports the calling thread's CPU time instead of wall time.
    """
    n_new = positive_int("max_new_tokens", max_new_tokens)
    temperature = nonnegative_float("temperature", temperature)
    gen = make_rng(seed)
    timer = time.thread_time if clock == "thread" else time.perf_counter
    start = timer()
    model.eval()
    cache = model.new_cache(1)
    seq = prompt[0].tolist()
    logits = model(prompt, cache=cache).logits[0, -1]
    for i in range(n_new):
        p = _dist(logits, temperature)
        x = int(gen.choice(p.size, p=p / p.sum()))
        seq.append(x)
        if i < n_new - 1:
            logits = model(torch.tensor([[x]]), cache=cache).logits[0, -1]
    return torch.tensor([seq]), timer() - start


# --------------------------------------------------------------------------- tree speculation (accounting)
def tree_expected_tokens(alpha: float, gamma: int, width: int) -> float:
    """Expected tokens per target call when ``width`` independent draft branches of ``gamma`` tokens are verified.

    A simple model (each proposal accepted with probability ``alpha``,
    independently across branches): the longest accepted prefix over the
    branches has ``P(length >= j) = 1 - (1 - alpha**j)**width``, so the
    expectation is ``1 + sum_{j=1..gamma} [1 - (1 - alpha**j)**width]`` (the
    1 is the replacement or bonus token).  ``width = 1`` gives
    :func:`expected_tokens_per_call`.  Real branches sampled from one draft
    are correlated (they repeat likely tokens), so this is an upper bound on
    what sampled branches achieve; distinct (top-k) branches come closer.
    """
    a = fraction("alpha", alpha)
    g = _gamma(gamma)
    w = positive_int("width", width)
    return 1.0 + sum(1.0 - (1.0 - a ** j) ** w for j in range(1, g + 1))


def tree_target_tokens(gamma: int, width: int, shared_prefix: bool = False) -> int:
    """Tokens the target processes in the one verification pass: ``width * gamma + 1``.

    With ``shared_prefix`` the branches share their first token (a tree
    rooted at one proposal): ``1 + 1 + width * (gamma - 1)``.
    """
    g, w = _gamma(gamma), positive_int("width", width)
    return 2 + w * (g - 1) if shared_prefix else w * g + 1


def simulate_tree(alpha: float, gamma: int, width: int, n_calls: int = 10_000, seed=0) -> float:
    """Monte-Carlo of :func:`tree_expected_tokens`'s model: mean tokens per call over ``n_calls`` rounds."""
    a = fraction("alpha", alpha)
    g, w = _gamma(gamma), positive_int("width", width)
    gen = make_rng(seed)
    accept = gen.random((positive_int("n_calls", n_calls), w, g)) < a
    run = np.cumprod(accept, axis=-1).sum(-1)          # accepted prefix length of each branch
    return float(1.0 + run.max(-1).mean())


# --------------------------------------------------------------------------- early exit
@torch.no_grad()
def layer_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    """``(n_layers, B, T, V)``: the output head applied (after the final norm) to every block's output.

    The "logit lens": what each intermediate layer would predict if the model
    stopped there.  The last entry equals the model's own logits.
    """
    out = model(tokens, return_hidden=True)
    hidden = out.hidden[1:]                             # block outputs (hidden[0] is the embedding)
    return torch.stack([model.head(model.norm(h)) for h in hidden])


@torch.no_grad()
def early_exit(model, tokens: torch.Tensor, threshold: float, *, targets: Optional[torch.Tensor] = None,
               logits: Optional[torch.Tensor] = None) -> Dict[str, np.ndarray]:
    """Exit at the first layer whose top probability reaches ``threshold`` (the last layer always answers).

    Args:
        model: a :class:`~frontier.models.TinyLM` (anything with ``head``, ``norm`` and ``return_hidden``).
        tokens: ``(B, T)``; predictions at positions ``0..T-2`` are scored against ``tokens[:, 1:]``.
        threshold: confidence in (0, 1]; 1 never exits early.
        logits: precomputed :func:`layer_logits` (to sweep thresholds cheaply).

    Returns:
        ``exit_layer`` ``(B, T-1)`` (1-based), ``layers_used`` mean fraction of
        blocks run, ``agree`` fraction of predictions equal to the full
        model's, ``accuracy`` and ``full_accuracy`` against the next tokens
        (or ``targets``), ``confidence`` ``(B, T-1)`` of the full model.
    """
    t = positive_float("threshold", threshold)
    if t > 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    ll = layer_logits(model, tokens) if logits is None else logits
    ll = ll[:, :, :-1]
    probs = torch.softmax(ll.double(), dim=-1)
    conf, pred = probs.max(-1)                          # (L, B, T-1)
    n_layers = ll.shape[0]
    ok = conf >= t
    ok[-1] = True
    exit_idx = ok.double().argmax(0)                    # first True
    chosen = pred.gather(0, exit_idx[None])[0]
    full = pred[-1]
    tgt = tokens[:, 1:] if targets is None else targets
    return {"exit_layer": (exit_idx + 1).numpy(), "layers_used": float((exit_idx + 1).double().mean() / n_layers),
            "agree": float((chosen == full).double().mean()), "accuracy": float((chosen == tgt).double().mean()),
            "full_accuracy": float((full == tgt).double().mean()), "confidence": conf[-1].numpy()}


# --------------------------------------------------------------------------- measurements for the lesson and the benchmark
@torch.no_grad()
def decode_step_seconds(model, context: int = 32, repeat: int = 20) -> float:
    """Seconds of one cached decoding step (one new token against ``context`` cached ones), best of ``repeat``.

    Timed on the calling thread's CPU clock with :func:`frontier.timing.time_callable`.
    """
    from ..timing import time_callable

    context = positive_int("context", context)
    cache = model.new_cache(1)
    model(torch.zeros(1, context, dtype=torch.long), cache=cache)
    tok = torch.zeros(1, 1, dtype=torch.long)

    def step():
        model(tok, cache=cache)
        cache.truncate(context)
    return float(time_callable(step, warmup=2, repeat=positive_int("repeat", repeat), clock="thread").minimum)


def gamma_sweep(target, draft, prompts: torch.Tensor, gammas: Sequence[int], n_tokens: int, *,
                temperature: float = 1.0, seed: int = 0, clock: str = "thread") -> Dict[str, list]:
    """Speculative sampling at each ``gamma`` over every prompt (rows of ``prompts`` ``(P, T)``), and plain decoding.

    Returns lists, one entry per gamma: ``gamma``, ``alpha`` (measured
    ``E[sum min(p, q)]``), ``acceptance_rate``, ``tokens_per_call``
    (measured), ``formula`` (:func:`expected_tokens_per_call` at the measured
    alpha), ``seconds`` (total), and ``baseline_seconds`` (plain decoding of
    the same number of tokens with the target; one number repeated), and
    ``speedup`` = baseline / speculative time.  Times are CPU seconds of the
    calling thread (``clock="thread"``, the default: other programs on a
    shared machine do not count) or wall seconds (``clock="wall"``).
    """
    if clock not in ("thread", "wall"):
        raise ValueError(f"clock must be 'thread' or 'wall', got {clock!r}")
    out = {k: [] for k in ("gamma", "alpha", "acceptance_rate", "tokens_per_call", "formula", "seconds",
                           "baseline_seconds", "speedup")}
    base = sum(autoregressive_generate(target, prompts[i:i + 1], n_tokens, temperature=temperature, seed=seed + i,
                                       clock=clock)[1] for i in range(prompts.shape[0]))
    for g in gammas:
        runs = [speculative_generate(target, draft, prompts[i:i + 1], n_tokens, gamma=int(g), temperature=temperature,
                                     seed=seed + i) for i in range(prompts.shape[0])]
        alphas = [a for r in runs for a in r.alpha_per_position]
        acc = sum(sum(r.accepted) for r in runs)
        examined = sum(a + (1 if a < g else 0) for r in runs for a in r.accepted)
        calls = sum(r.target_calls for r in runs)
        alpha = float(np.mean(alphas))
        secs = sum(r.cpu_seconds if clock == "thread" else r.seconds for r in runs)
        out["gamma"].append(int(g))
        out["alpha"].append(alpha)
        out["acceptance_rate"].append(acc / max(1, examined))
        out["tokens_per_call"].append(sum(r.new_tokens for r in runs) / calls)
        out["formula"].append(expected_tokens_per_call(min(alpha, 1.0), int(g)))
        out["seconds"].append(secs)
        out["baseline_seconds"].append(base)
        out["speedup"].append(base / secs)
    return out


# --------------------------------------------------------------------------- tree speculation, measured (greedy target)
def tree_mask(context: int, gamma: int, width: int) -> torch.Tensor:
    """Boolean attention mask ``(S, S)``, ``S = context + width * gamma``, for verifying ``width`` branches at once.

    The context is causal; token ``i`` of branch ``b`` (at index ``context +
    b * gamma + i``) sees the whole context and tokens ``0..i`` of its own
    branch only.  True = may attend.
    """
    c, g, w = positive_int("context", context), _gamma(gamma), positive_int("width", width)
    S = c + w * g
    mask = torch.zeros(S, S, dtype=torch.bool)
    mask[:c, :c] = torch.ones(c, c, dtype=torch.bool).tril()
    mask[c:, :c] = True
    for b in range(w):
        s = c + b * g
        mask[s:s + g, s:s + g] = torch.ones(g, g, dtype=torch.bool).tril()
    return mask


@torch.no_grad()
def tree_round(target, draft, context: torch.Tensor, gamma: int, width: int, rng: np.random.Generator) -> Dict[str, float]:
    """One round of tree speculation against a *greedy* target, measured with one target pass.

    ``width`` branches of ``gamma`` tokens are sampled from ``draft``
    (temperature 1) after ``context`` ``(1, c)``; the target scores the
    context and every branch in one forward pass with :func:`tree_mask` and
    RoPE positions that restart after the context for each branch.  A branch
    is accepted up to its first token that differs from the target's argmax;
    the round emits the longest accepted prefix plus one target token.

    Returns ``{"tokens": emitted tokens, "accepted": longest accepted prefix,
    "target_tokens": tokens the target processed in the tree (width * gamma)}``.
    """
    g, w = _gamma(gamma), positive_int("width", width)
    c = context.shape[1]
    branches = []
    for _ in range(w):
        seq = context
        cache = draft.new_cache(1)
        logits = draft(seq, cache=cache).logits[0, -1]
        toks = []
        for i in range(g):
            q = _dist(logits, 1.0)
            x = int(rng.choice(q.size, p=q / q.sum()))
            toks.append(x)
            if i < g - 1:
                logits = draft(torch.tensor([[x]]), cache=cache).logits[0, -1]
        branches.append(toks)
    flat = torch.tensor([sum(branches, [])])
    tokens = torch.cat([context, flat], dim=1)
    positions = np.concatenate([np.arange(c)] + [np.arange(c, c + g)] * w)
    logits = target(tokens, positions=positions, mask=tree_mask(c, g, w)).logits[0]
    first = int(logits[c - 1].argmax())
    best = 0
    for b, toks in enumerate(branches):
        n = 0
        for i, x in enumerate(toks):
            want = first if i == 0 else int(logits[c + b * g + i - 1].argmax())
            if x != want:
                break
            n += 1
        best = max(best, n)
    return {"tokens": best + 1, "accepted": best, "target_tokens": w * g}


def measure_tree(target, draft, contexts: torch.Tensor, gamma: int, widths: Sequence[int], seed=0) -> Dict[str, list]:
    """Mean tokens per target call of :func:`tree_round` at each width, over the rows of ``contexts`` ``(n, c)``.

    Also returns ``alpha_greedy``: the mean probability that the draft's
    sample equals the target's argmax at the first position (a one-branch
    acceptance rate for the greedy target), for comparison with
    :func:`tree_expected_tokens`.
    """
    gen = make_rng(seed)
    out = {"width": [], "tokens_per_call": [], "target_tokens": []}
    with torch.no_grad():
        p = target(contexts).logits[:, -1].argmax(-1)
        q = torch.softmax(draft(contexts).logits[:, -1].double(), -1)
        alpha = float(q.gather(-1, p[:, None]).mean())
    for w in widths:
        res = [tree_round(target, draft, contexts[i:i + 1], gamma, int(w), gen) for i in range(contexts.shape[0])]
        out["width"].append(int(w))
        out["tokens_per_call"].append(float(np.mean([r["tokens"] for r in res])))
        out["target_tokens"].append(int(w) * _gamma(gamma))
    out["alpha_greedy"] = alpha
    return out

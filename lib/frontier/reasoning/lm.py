"""A TinyLM proposer trained on solver-verified Game-of-24 traces.

The training data is what the chapter calls specialised training data with
verified correctness: for a random training puzzle, a random step chain that
the exact solver says reaches 24, in the text form of
:mod:`frontier.reasoning.steps`::

    <bos>4 4 6 8:8/4=2[2 4 6];4*6=24[2 24];24/2=12[12]<eos>     (a failing chain: never in the data)
    <bos>4 4 6 8:4+8=12[4 6 12];6-4=2[2 12];2*12=24[24]<eos>

The loss covers only the chain (after the ``:``).  The model is a character-level
:class:`~frontier.models.TinyLM`; it is built and trained through the model
cache (:func:`frontier.models.cached`), so a lesson trains it once.

:class:`LMProposer` implements the proposer interface of
:mod:`frontier.reasoning.proposer` with :func:`frontier.models.generate`, and
counts the token positions the network processes: with the KV cache, the
prompt (``T`` positions per row) once, then one position per generated token
except the last, for every row of the batch until the last row stops.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..models import Batch, Tokenizer, TinyLM, TinyLMConfig, cached, generate, next_token_loss_fn, train
from ..models.tokenizer import BOS, EOS, PAD
from ..validation import nonnegative_float, nonnegative_int, positive_int
from .proposer import Proposal, as_rng, state_after
from .solver import solution_chains
from .steps import chain_text, parse_chain, prompt_text

__all__ = ["ALPHABET", "tokenizer", "TraceTask", "ProposerSize", "SIZES", "train_proposer", "LMProposer", "PromptedProposer", "FEW_SHOT",
           "flops_per_token"]

#: Every character a prompt or chain can contain.
ALPHABET = "0123456789+-*/=()[]; :"
MAX_LEN = 96


@lru_cache(maxsize=1)
def tokenizer() -> Tokenizer:
    """The character-level tokenizer of the proposer (special tokens + :data:`ALPHABET`)."""
    return Tokenizer.char_level(ALPHABET)


@lru_cache(maxsize=4096)
def _texts(puzzle: Tuple[int, ...]) -> Tuple[str, ...]:
    return tuple(chain_text(puzzle, c) for c in solution_chains(puzzle))


class TraceTask:
    """Solver-verified traces as a :class:`frontier.models.Task`.

    ``sample(batch, rng) -> Batch``: rows ``<bos> prompt chain <eos>``,
    right-padded to the longest row (at most ``seq_len``); ``target_mask`` is True on the chain and the
    ``<eos>`` (what the model must learn to write).  A puzzle is drawn
    uniformly from ``puzzles``, then one of its solution chains uniformly.
    """

    def __init__(self, puzzles: Sequence[Sequence[int]], seq_len: int = MAX_LEN):
        self.puzzles = [tuple(int(x) for x in p) for p in puzzles]
        if not self.puzzles:
            raise ValueError("puzzles must not be empty")
        self._seq_len = positive_int("seq_len", seq_len)
        self.tok = tokenizer()

    @property
    def vocab_size(self) -> int:
        return self.tok.vocab_size

    @property
    def seq_len(self) -> int:
        return self._seq_len

    def sample(self, batch: int, rng: np.random.Generator) -> Batch:
        batch = positive_int("batch", batch)
        rows = []
        for _ in range(batch):
            while True:
                p = self.puzzles[int(rng.integers(len(self.puzzles)))]
                texts = _texts(p)
                if texts:
                    chain = texts[int(rng.integers(len(texts)))]
                    head = self.tok.encode(prompt_text(p), bos=True)
                    body = self.tok.encode(chain, eos=True)
                    if len(head) + len(body) <= self._seq_len:
                        break
            rows.append((head, body))
        return Batch.from_pairs(rows)


@dataclass(frozen=True)
class ProposerSize:
    """A proposer's size and training budget."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    steps: int
    smoke_steps: int
    batch: int = 64
    lr: float = 3e-3


#: The two proposers of the compute-split experiment.
SIZES: Dict[str, ProposerSize] = {
    # small: 1,200 steps at lr 6e-3 reach about the single-sample accuracy 2,000 at 3e-3 did (17% vs 20% on 60 held-out
    # puzzles, 8 samples each) in 60% of the time
    "small": ProposerSize("small", d_model=64, n_layers=2, n_heads=4, d_ff=192, steps=1200, smoke_steps=20, lr=6e-3),
    # large: 2.6x the small one's FLOPs per token; at width 96 it reached the single-sample accuracy a width-128 model
    # did (24% vs 23%, same evaluation) in about 60% of the training time
    "large": ProposerSize("large", d_model=96, n_layers=3, n_heads=4, d_ff=288, steps=1200, smoke_steps=10, lr=4e-3),
}


def _config(size: ProposerSize) -> TinyLMConfig:
    return TinyLMConfig(vocab_size=tokenizer().vocab_size, d_model=size.d_model, n_layers=size.n_layers,
                        n_heads=size.n_heads, d_ff=size.d_ff, max_seq_len=MAX_LEN)


def train_proposer(size: str = "small", puzzles: Optional[Sequence[Sequence[int]]] = None, *, smoke: bool = False,
                   steps: Optional[int] = None, seed: int = 0, progress: bool = True, use_cache: bool = True,
                   threads: Optional[int] = 1):
    """A TinyLM trained on solver traces of ``puzzles`` (default: the training split), from the model cache.

    Args:
        size: a key of :data:`SIZES`.
        puzzles: training puzzles; default ``split_puzzles()[0]``.
        smoke: use the size's short ``smoke_steps`` budget.
        steps: override the number of steps.
        seed: initialisation and data seed.
        use_cache: go through :func:`frontier.models.cached` (else train now).
        threads: torch threads while training (``None``: leave the setting); more than one pays off for the
            large proposer on a machine with idle cores (the weights differ only by floating-point rounding).

    Returns:
        ``(model, log)``: the trained :class:`TinyLM` (eval mode) and its
        training log (a dict when loaded from the cache).
    """
    from ..validation import choice
    from .solver import split_puzzles

    spec = SIZES[choice("size", size, list(SIZES))]
    if puzzles is None:
        puzzles = split_puzzles()[0]
    n_steps = positive_int("steps", steps) if steps is not None else (spec.smoke_steps if smoke else spec.steps)
    seed = nonnegative_int("seed", seed)
    puzzles = [tuple(int(x) for x in p) for p in puzzles]
    cfg = _config(spec)
    task = TraceTask(puzzles)

    def build():
        return TinyLM(cfg, seed=seed)

    def fit(model):
        return train(model, next_token_loss_fn(True), lambda rng: task.sample(spec.batch, rng), n_steps,
                     lr=spec.lr, warmup=min(100, n_steps // 10), schedule="cosine", seed=seed,
                     progress=progress, desc=f"proposer ({size})", threads=threads)

    if not use_cache:
        model = build()
        return model, fit(model)
    key = {"config": asdict(cfg), "batch": spec.batch, "lr": spec.lr, "steps": n_steps, "seed": seed,
           "puzzles": puzzles, "alphabet": ALPHABET, "max_len": MAX_LEN, "task": "game24-solver-traces/1"}
    return cached(f"game24-proposer-{size}", build, fit, key=key, return_result=True, verbose=progress)


def flops_per_token(model: TinyLM) -> float:
    """Forward FLOPs per token, ``2 * n_parameters`` (embeddings included; attention over ~60 positions ignored)."""
    return 2.0 * sum(p.numel() for p in model.parameters())


class LMProposer:
    """The proposer interface (:mod:`frontier.reasoning.proposer`) over a trained TinyLM.

    ``extend(puzzle, prefix, n, rng, max_steps=None)`` samples ``n`` rows in one
    batch from ``<bos> prompt prefix`` at ``temperature``; ``max_steps=1``
    stops each row at the end of one step.  Every proposal's ``tokens`` is
    the positions its row occupied in the network: ``T + (new - 1)``, where
    ``T`` is the prompt length and ``new`` the columns generated for the batch.
    ``tokens_processed`` accumulates them over the proposer's life.
    """

    def __init__(self, model: TinyLM, *, temperature: float = 1.0, name: str = "tinylm"):
        self.model = model
        self.tok = tokenizer()
        self.temperature = nonnegative_float("temperature", temperature)
        self.name = name
        self.tokens_processed = 0
        self._semi = self.tok.token_to_id(";")

    def extend(self, puzzle, prefix=(), n=1, rng=None, *, max_steps=None) -> List[Proposal]:
        n = positive_int("n", n)
        rng = as_rng(rng)
        prefix = tuple(prefix)
        left = len(state_after(puzzle, prefix)) if _valid_prefix(puzzle, prefix) else 4 - len(prefix)
        head = prompt_text(puzzle) + chain_text(puzzle, prefix) + (";" if prefix else "")
        ids = self.tok.encode(head, bos=True)
        T = len(ids)
        room = self.model.max_seq_len - T
        if room <= 0 or left <= 1:
            return [Proposal(prefix, 0, False) for _ in range(n)]
        one_step = max_steps is not None and left > 2
        stop = self._semi if one_step else EOS
        seed = int(rng.integers(2**31 - 1))
        prompt = torch.tensor([ids] * n, dtype=torch.int64)
        with torch.no_grad():
            out = generate(self.model, prompt, room, temperature=self.temperature, stop_token=stop, seed=seed)
        new = out.shape[1] - T
        per_row = T + max(new - 1, 0)
        self.tokens_processed += per_row * n
        proposals = []
        for row in out[:, T:].tolist():
            text = self._text(row, stop)
            steps, ok = parse_chain(text)
            if max_steps is not None:
                ok = ok and len(steps) <= max_steps
                steps = steps[:max_steps]
            proposals.append(Proposal(prefix + tuple(steps), per_row, ok))
        return proposals

    def _text(self, row: List[int], stop: int) -> str:
        cut = len(row)
        for i, t in enumerate(row):
            if t in (stop, EOS, PAD, BOS):
                cut = i
                break
        return self.tok.decode(row[:cut])


def _valid_prefix(puzzle, prefix) -> bool:
    try:
        state_after(puzzle, prefix)
        return True
    except ValueError:
        return False




#: Two worked examples in the chain format, for prompting a real model.
FEW_SHOT = ("Combine the four numbers with + - * / to make 24. Use each number once; after each step write the "
            "numbers left in brackets.\n4 4 6 8:4+8=12[4 6 12];6-4=2[2 12];2*12=24[24]\n"
            "3 3 8 8:8/3=8/3[3 8 8/3];3-(8/3)=1/3[8 1/3];8/(1/3)=24[24]\n")


class PromptedProposer:
    """The proposer interface over a real model (:class:`frontier.models.hf.HFCausalLM`), prompted with :data:`FEW_SHOT`.

    Same counting as :class:`LMProposer` (prompt positions once, then one per
    generated token but the last, for every row); generation stops at the end
    of the line, and the text is parsed with :func:`frontier.reasoning.steps.parse_chain`.
    """

    def __init__(self, model, *, temperature: float = 0.7, max_new_tokens: int = 64, name: str = "real model",
                 few_shot: str = FEW_SHOT):
        self.model = model
        self.temperature = nonnegative_float("temperature", temperature)
        self.max_new_tokens = positive_int("max_new_tokens", max_new_tokens)
        self.name = name
        self.few_shot = few_shot
        self.tokens_processed = 0

    def extend(self, puzzle, prefix=(), n=1, rng=None, *, max_steps=None) -> List[Proposal]:
        n = positive_int("n", n)
        rng = as_rng(rng)
        prefix = tuple(prefix)
        head = self.few_shot + prompt_text(puzzle) + chain_text(puzzle, prefix) + (";" if prefix else "")
        ids = self.model.encode(head)
        T = ids.shape[1]
        eos = getattr(getattr(self.model, "tokenizer", None), "eos_token_id", None)
        out = generate(self.model, ids.repeat(n, 1), self.max_new_tokens, temperature=self.temperature,
                       stop_token=eos, seed=int(rng.integers(2**31 - 1)))
        per_row = T + max(out.shape[1] - T - 1, 0)
        self.tokens_processed += per_row * n
        proposals = []
        for row in out[:, T:]:
            text = self.model.decode(row).split("\n")[0]
            steps, ok = parse_chain(text)
            if max_steps is not None:
                steps = steps[:max_steps]
            proposals.append(Proposal(prefix + tuple(steps), per_row, ok))
        return proposals

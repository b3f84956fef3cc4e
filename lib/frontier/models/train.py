"""A small training loop with a progress bar, for the lessons' in-notebook experiments."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import torch

from ..validation import nonnegative_int, positive_float, positive_int
from .tiny_lm import LMOutput, TinyLM, next_token_loss

__all__ = ["TrainLog", "train_lm", "expert_load_record", "torch_threads"]


@contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """Use ``n`` torch threads inside the block and restore the setting after (``None``: leave it).

    For the course's tiny models one thread is usually fastest: starting and
    synchronising threads costs more than the small matrix products save, and
    much more on a machine whose cores are busy with something else.
    """
    if n is None:
        yield
        return
    n = positive_int("threads", n)
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


@dataclass
class TrainLog:
    """What happened during :func:`train_lm`.

    Attributes:
        step: ``(n,)`` the steps at which a record was taken (1-based).
        loss: ``(n,)`` next-token loss of the training batch at those steps (nats).
        aux_loss: ``(n,)`` auxiliary (MoE) loss at those steps.
        records: whatever ``record`` returned at those steps, one dict each.
    """

    step: List[int] = field(default_factory=list)
    loss: List[float] = field(default_factory=list)
    aux_loss: List[float] = field(default_factory=list)
    records: List[Dict[str, object]] = field(default_factory=list)

    def as_arrays(self) -> Dict[str, np.ndarray]:
        return {"step": np.array(self.step), "loss": np.array(self.loss), "aux_loss": np.array(self.aux_loss)}


def train_lm(model: TinyLM, batch_fn: Callable[[np.random.Generator], torch.Tensor], steps: int, *,
             lr: float = 3e-3, seed: int = 0, mask: Optional[torch.Tensor] = None, record_every: int = 10,
             record: Optional[Callable[[TinyLM, LMOutput, int], Dict[str, object]]] = None,
             progress: bool = True, desc: str = "training", threads: Optional[int] = 1) -> TrainLog:
    """Train ``model`` with AdamW on next-token prediction (plus its auxiliary loss).

    Args:
        batch_fn: ``rng -> tokens (B, T)``; called once per step with a NumPy
            generator seeded by ``seed``, so runs are reproducible.
        steps: optimisation steps.
        lr: peak learning rate; a linear warm-up over the first 10% of steps,
            then constant.
        mask: attention mask passed to the model (causal if None).
        record_every: keep a record every this many steps (and at the last).
        record: optional ``(model, output, step) -> dict`` called at those
            steps, for example to log expert loads.
        progress: show a tqdm progress bar.
        threads: torch threads while training (see :func:`torch_threads`).

    Returns:
        A :class:`TrainLog`.  The model is trained in place and left in eval mode.
    """
    steps = positive_int("steps", steps)
    lr = positive_float("lr", lr)
    record_every = positive_int("record_every", record_every)
    nonnegative_int("seed", seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    log = TrainLog()
    it = range(1, steps + 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(it, desc=desc, leave=True)
        it = bar
    with torch_threads(threads):
        _loop(model, batch_fn, rng, opt, sched, it, steps, mask, record_every, record, bar, log)
    model.eval()
    return log


def _loop(model, batch_fn, rng, opt, sched, it, steps, mask, record_every, record, bar, log) -> None:
    model.train()
    for step in it:
        tokens = batch_fn(rng)
        out = model(tokens, mask=mask)
        loss = next_token_loss(out.logits, tokens)
        opt.zero_grad(set_to_none=True)
        (loss + out.aux_loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % record_every == 0 or step == steps:
            log.step.append(step)
            log.loss.append(float(loss.detach()))
            log.aux_loss.append(float(out.aux_loss.detach()))
            if record is not None:
                with torch.no_grad():
                    log.records.append(dict(record(model, out, step)))
            if bar is not None:
                bar.set_postfix(loss=f"{log.loss[-1]:.3f}")


def expert_load_record(model: TinyLM, out: LMOutput, step: int) -> Dict[str, object]:
    """A ``record`` for :func:`train_lm`: assignments per expert in every MoE layer, and the drop rate.

    Returns ``{"load": [[count per expert] per layer], "drop_rate": [per layer]}``.
    """
    stats = [m.statistics() for m in out.moe]
    return {"load": [s.requested_load.tolist() for s in stats], "drop_rate": [s.drop_rate for s in stats]}

"""One training loop for every lesson: the model or the lesson supplies the loss.

:func:`train` optimises any ``torch.nn.Module`` with any loss: next-token
prediction, a preference loss, a contrastive or distillation loss, LoRA
adapters only.  :func:`train_lm` is the next-token special case the
architecture lessons use.

The auxiliary loss
------------------
Models that implement :class:`~frontier.models.LanguageModel` return an
``aux_loss`` with every forward pass (the MoE balancing and router z-losses;
zero for a dense model).  :func:`train` watches the model's forward passes
during each call of the loss function (a forward hook on ``model``) and adds
the **mean** ``aux_loss`` of the passes made with gradients enabled, so a
custom loss function keeps the MoE balancing without knowing about it.  A loss
function that adds the auxiliary loss itself (or wants it left out) says so
by returning ``"aux_included": True`` in its metrics; :func:`train` then adds
nothing.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable as _Iterable
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..env import torch_threads          # re-exported here: section 1 imported it from the training module
from ..validation import choice, nonnegative_float, nonnegative_int, positive_float, positive_int

__all__ = ["TrainLog", "train", "train_lm", "expert_load_record", "torch_threads", "LossFn", "OPTIMIZERS",
           "SCHEDULES"]

#: ``loss_fn(model, batch) -> (loss, metrics)``: a scalar tensor to minimise and a dict of numbers to log.
LossFn = Callable[[nn.Module, Any], Tuple[torch.Tensor, Dict[str, Any]]]

#: Optimiser names :func:`train` accepts (or pass a callable ``params -> torch.optim.Optimizer``).
OPTIMIZERS = ("adamw", "adam", "sgd")
#: Learning-rate schedules after the warm-up: ``"constant"``, or ``"cosine"`` decay towards zero.
SCHEDULES = ("constant", "cosine")


@dataclass
class TrainLog:
    """What happened during :func:`train` (or :func:`train_lm`).

    Attributes:
        step: ``(n,)`` the steps at which a record was taken (1-based): every
            ``record_every`` steps and at the last.
        loss: ``(n,)`` the loss function's value at those steps (before the auxiliary loss is added).
        aux_loss: ``(n,)`` the auxiliary (MoE) loss added at those steps (0 when none was added).
        lr: ``(n,)`` the learning rate used at those steps.
        metrics: one dict per record: the numbers the loss function returned.
        eval_step: the steps at which ``eval_fn`` ran.
        evals: one dict per ``eval_step``: what ``eval_fn`` returned.
        records: what :func:`train_lm`'s ``record`` callback returned, one dict per record step.
        seconds: wall-clock time of the whole run (s).
    """

    step: List[int] = field(default_factory=list)
    loss: List[float] = field(default_factory=list)
    aux_loss: List[float] = field(default_factory=list)
    lr: List[float] = field(default_factory=list)
    metrics: List[Dict[str, Any]] = field(default_factory=list)
    eval_step: List[int] = field(default_factory=list)
    evals: List[Dict[str, Any]] = field(default_factory=list)
    records: List[Dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0

    def as_arrays(self) -> Dict[str, np.ndarray]:
        """``step``, ``loss``, ``aux_loss``, ``lr`` and every numeric metric as ``(n,)`` arrays
        (a metric missing at some record is NaN there); eval results under ``"eval_<name>"`` against ``"eval_step"``."""
        out = {"step": np.array(self.step), "loss": np.array(self.loss), "aux_loss": np.array(self.aux_loss),
               "lr": np.array(self.lr)}
        for key in sorted({k for m in self.metrics for k in m}):
            vals = [m.get(key, math.nan) for m in self.metrics]
            if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vals):
                out[key] = np.array(vals, dtype=float)
        if self.evals:
            out["eval_step"] = np.array(self.eval_step)
            for key in sorted({k for e in self.evals for k in e}):
                vals = [e.get(key, math.nan) for e in self.evals]
                if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vals):
                    out[f"eval_{key}"] = np.array(vals, dtype=float)
        return out


def _as_float(v: Any) -> Any:
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return float(v.detach())
    if isinstance(v, np.generic):
        return v.item()
    return v


def _make_optimizer(optimizer, params: List[nn.Parameter], lr: float, weight_decay: float):
    if callable(optimizer) and not isinstance(optimizer, str):
        opt = optimizer(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"optimizer(params) must return a torch.optim.Optimizer, got {type(opt).__name__}")
        for group in opt.param_groups:          # the schedule scales from this base rate
            group["lr"] = lr
        return opt
    choice("optimizer", optimizer, OPTIMIZERS)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def _lr_factor(schedule: str, warmup: int, steps: int) -> Callable[[int], float]:
    """The multiplier of the base rate at scheduler step ``s`` (0-based; step ``s + 1`` of training)."""
    def factor(s: int) -> float:
        if warmup and s + 1 < warmup:
            return (s + 1) / warmup
        if schedule == "constant":
            return 1.0
        # after warm-up, step t (1-based) of the remaining steps - warmup + 1 intervals; never exactly 0
        progress = max(0.0, (s + 1 - warmup) / (steps - warmup + 1))
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def _batch_source(batches, rng: np.random.Generator) -> Callable[[], Any]:
    if callable(batches):
        return lambda: batches(rng)
    if isinstance(batches, (str, bytes)) or not isinstance(batches, _Iterable):
        raise TypeError("batches must be a callable rng -> batch or an iterable of batches, "
                        f"got {type(batches).__name__}")
    it = iter(batches)
    count = [0]

    def nxt():
        try:
            b = next(it)
        except StopIteration:
            raise ValueError(f"batches ran out after {count[0]} batches; pass at least `steps` of them "
                             "or a callable rng -> batch") from None
        count[0] += 1
        return b
    return nxt


def train(model: nn.Module, loss_fn: LossFn, batches: Union[Callable[[np.random.Generator], Any], _Iterable],
          steps: int, *, lr: float, optimizer: Union[str, Callable[..., torch.optim.Optimizer]] = "adamw",
          weight_decay: float = 0.01, warmup: int = 0, schedule: str = "constant",
          eval_fn: Optional[Callable[[nn.Module], Dict[str, Any]]] = None, eval_every: Optional[int] = None,
          record_every: int = 10, progress: bool = True, seed: Optional[int] = None,
          params: Optional[_Iterable] = None, threads: Optional[int] = 1, desc: str = "training",
          clip_norm: Optional[float] = 1.0) -> TrainLog:
    """Minimise ``loss_fn`` over ``steps`` optimiser steps; the model is trained in place.

    Args:
        model: any ``torch.nn.Module``; left in eval mode at the end.
        loss_fn: ``(model, batch) -> (loss, metrics)``: a scalar tensor and a
            dict of numbers to log (tensors are converted to floats).  The
            model's auxiliary loss is added automatically (see the module
            docstring) unless ``metrics["aux_included"]`` is True.
        batches: a callable ``rng -> batch`` (called once per step with a
            NumPy generator seeded by ``seed``) or an iterable yielding at
            least ``steps`` batches.  A batch is whatever ``loss_fn`` takes.
        steps: optimiser steps.
        lr: peak learning rate.
        optimizer: ``"adamw"`` (with ``weight_decay``), ``"adam"``, ``"sgd"``
            (momentum 0.9), or a callable ``params -> torch.optim.Optimizer``.
        weight_decay: AdamW's decoupled weight decay (only on the trained parameters).
        warmup: steps of linear warm-up from ``lr / warmup`` to ``lr`` (0: none).
        schedule: ``"constant"`` after warm-up, or ``"cosine"`` decay towards 0 (reached one step after the last).
        eval_fn: ``model -> dict``, run without gradients in eval mode every
            ``eval_every`` steps (default ``record_every``) and at the last step.
        record_every: log loss and metrics every this many steps (and at the last).
        progress: show a tqdm progress bar with the latest loss.
        seed: seeds the batch generator and, inside the run only, torch's
            global generator (the caller's torch random state is restored
            after); ``None``: not reproducible.
        params: the parameters to train (for example only the LoRA adapters);
            default all of ``model.parameters()``.  Every other parameter is
            frozen during the run (``requires_grad`` off, restored after), so it
            stays bit-identical: not in the optimiser, no weight decay, no gradient.
        threads: torch threads while training (see :func:`frontier.env.torch_threads`); ``None`` leaves the setting.
        desc: the progress bar's label.
        clip_norm: clip the gradient's global 2-norm to this (``None``: no clipping).

    Returns:
        A :class:`TrainLog`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (model, batch) -> (loss, metrics), got {type(loss_fn).__name__}")
    steps = positive_int("steps", steps)
    lr = positive_float("lr", lr)
    weight_decay = nonnegative_float("weight_decay", weight_decay)
    warmup = nonnegative_int("warmup", warmup)
    choice("schedule", schedule, SCHEDULES)
    record_every = positive_int("record_every", record_every)
    eval_every = record_every if eval_every is None else positive_int("eval_every", eval_every)
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"eval_fn must be callable model -> dict, got {type(eval_fn).__name__}")
    if seed is not None:
        seed = nonnegative_int("seed", seed)
    if clip_norm is not None:
        clip_norm = positive_float("clip_norm", clip_norm)
    trained = _trained_params(model, params)
    rng = np.random.default_rng(seed)
    next_batch = _batch_source(batches, rng)
    opt = _make_optimizer(optimizer, trained, lr, weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(schedule, warmup, steps))
    log = TrainLog()
    bar = None
    it = range(1, steps + 1)
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(it, desc=desc, leave=True)
        it = bar
    ids = {id(p) for p in trained}
    frozen = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
    aux_seen: List[torch.Tensor] = []

    def hook(module, args, output):
        aux = getattr(output, "aux_loss", None)
        if torch.is_grad_enabled() and isinstance(aux, torch.Tensor):
            aux_seen.append(aux)

    start = time.perf_counter()
    handle = model.register_forward_hook(hook)
    try:
        for p in frozen:
            p.requires_grad_(False)
        with torch_threads(threads), torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            model.train()
            for step in it:
                aux_seen.clear()
                batch = next_batch()
                result = loss_fn(model, batch)
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise TypeError("loss_fn must return (loss, metrics)")
                loss, metrics = result
                if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                    raise TypeError("loss_fn must return a scalar tensor as its loss")
                metrics = dict(metrics or {})
                aux = None
                if not metrics.pop("aux_included", False) and aux_seen:
                    aux = aux_seen[0] if len(aux_seen) == 1 else torch.stack(aux_seen).mean()
                total = loss if aux is None else loss + aux
                opt.zero_grad(set_to_none=True)
                total.backward()
                if clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(trained, clip_norm)
                used_lr = opt.param_groups[0]["lr"]
                opt.step()
                sched.step()
                aux_seen.clear()
                if step % record_every == 0 or step == steps:
                    log.step.append(step)
                    log.loss.append(float(loss.detach()))
                    log.aux_loss.append(0.0 if aux is None else float(aux.detach()))
                    log.lr.append(float(used_lr))
                    log.metrics.append({k: _as_float(v) for k, v in metrics.items()})
                    if bar is not None:
                        bar.set_postfix(loss=f"{log.loss[-1]:.3f}")
                if eval_fn is not None and (step % eval_every == 0 or step == steps):
                    model.eval()
                    with torch.no_grad():
                        result = eval_fn(model)
                    model.train()
                    log.eval_step.append(step)
                    log.evals.append({k: _as_float(v) for k, v in dict(result or {}).items()})
    finally:
        handle.remove()
        for p in frozen:
            p.requires_grad_(True)
        if bar is not None:
            bar.close()
        model.eval()
    log.seconds = time.perf_counter() - start
    return log


def _trained_params(model: nn.Module, params) -> List[nn.Parameter]:
    if params is None:
        out = [p for p in model.parameters() if p.requires_grad]
    else:
        if isinstance(params, torch.Tensor) or not isinstance(params, _Iterable):
            raise TypeError("params must be an iterable of parameters (e.g. a list of LoRA adapter weights)")
        out, seen = [], set()
        for p in params:
            if not isinstance(p, torch.Tensor) or not p.is_leaf:
                raise TypeError("params must hold leaf tensors (nn.Parameter), got "
                                f"{type(p).__name__}")
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
        if not all(p.requires_grad for p in out):
            raise ValueError("every tensor in params must have requires_grad=True")
    if not out:
        raise ValueError("there are no parameters to train")
    return out


def train_lm(model: nn.Module, batch_fn: Callable[[np.random.Generator], torch.Tensor], steps: int, *,
             lr: float = 3e-3, seed: int = 0, mask: Optional[torch.Tensor] = None, record_every: int = 10,
             record: Optional[Callable[[nn.Module, Any, int], Dict[str, object]]] = None,
             progress: bool = True, desc: str = "training", threads: Optional[int] = 1) -> TrainLog:
    """Train ``model`` with AdamW on next-token prediction (plus its auxiliary loss): :func:`train` with
    the next-token loss on every position.

    Args:
        batch_fn: ``rng -> tokens (B, T)``; called once per step with a NumPy
            generator seeded by ``seed``, so runs are reproducible.
        steps: optimisation steps.
        lr: peak learning rate; a linear warm-up over the first 10% of steps,
            then constant (AdamW, weight decay 0.01, gradient norm clipped to 1).
        mask: attention mask passed to the model (causal if None).
        record_every: keep a record every this many steps (and at the last).
        record: optional ``(model, output, step) -> dict`` called after the
            update at those steps (no gradients, eval mode), with the step's
            forward output, for example to log expert loads; kept in ``log.records``.
        progress: show a tqdm progress bar.
        threads: torch threads while training (see :func:`frontier.env.torch_threads`).

    Returns:
        A :class:`TrainLog` (``loss`` is the next-token loss in nats).  The model
        is trained in place and left in eval mode.
    """
    from .tasks import next_token_loss

    steps = positive_int("steps", steps)
    nonnegative_int("seed", seed)
    state: Dict[str, Any] = {"step": 0, "out": None}

    def loss_fn(m, tokens):
        state["step"] += 1
        out = m(tokens) if mask is None else m(tokens, mask=mask)
        state["out"] = out
        return next_token_loss(out.logits, tokens), {}

    def eval_fn(m):
        return dict(record(m, state["out"], state["step"]))

    log = train(model, loss_fn, batch_fn, steps, lr=lr, optimizer="adamw", weight_decay=0.01,
                warmup=max(1, steps // 10), schedule="constant", eval_fn=None if record is None else eval_fn,
                eval_every=record_every, record_every=record_every, progress=progress, seed=seed,
                threads=threads, desc=desc)
    log.records = log.evals
    return log


def expert_load_record(model: nn.Module, out: Any, step: int) -> Dict[str, object]:
    """A ``record`` for :func:`train_lm`: assignments per expert in every MoE layer, and the drop rate.

    Returns ``{"load": [[count per expert] per layer], "drop_rate": [per layer]}``.
    """
    stats = [m.statistics() for m in out.moe]
    return {"load": [s.requested_load.tolist() for s in stats], "drop_rate": [s.drop_rate for s in stats]}

"""A cache of trained models, so a lesson trains a teacher, draft model or base once and reloads it in a second.

``cached(name, build_fn, train_fn, key=...)`` returns ``build_fn()`` trained by
``train_fn(model)``.  The first call trains and writes the weights to
``cache_dir()/<name>-<digest>.pt``; later calls with the same inputs load them.

What the digest covers: ``name``; ``key`` (anything JSON-able, dataclasses
included: put the config, task, steps and seed there, and every global that
``train_fn`` reads); the *source code* of ``build_fn`` and ``train_fn``; and
the source of every module that defines a class the model is made of (the
model's own module and its building blocks, e.g. ``frontier.models.layers``;
torch's excepted).  Helper functions that ``train_fn`` calls are not
covered: put what matters about them in ``key``.  Editing any of
them retrains.  The package version is not part of it (it never changes
while the code does).

Where: ``$FRONTIER_MODEL_CACHE`` if set (CI points it into ``build/``),
else ``$XDG_CACHE_HOME/llm-frontiers/models``, else ``~/.cache/llm-frontiers/models``.

Safety: notebooks run in parallel, so a process holds an exclusive lock
(``fcntl.flock`` on ``<file>.lock``; no lock on systems without ``fcntl``)
while it looks for, trains and writes a model, and writes go to a temporary
file moved into place with ``os.replace``.  A file that fails to load, was
written for a different key, or whose weights do not fit the model
``build_fn`` returns is retrained and replaced, never trusted.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from .io import atomic_torch_save, payload

__all__ = ["cached", "cache_dir", "cache_path", "clear_cache", "source_digest", "model_code_digest", "ENV_VAR"]

#: The environment variable that moves the cache.
ENV_VAR = "FRONTIER_MODEL_CACHE"
_CACHE_FORMAT = "frontier-model-cache/1"


def cache_dir() -> Path:
    """The folder trained models are cached in (see the module docstring); created if missing."""
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(base) / "llm-frontiers" / "models"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _safe_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip())[:80]


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__dataclass__": type(obj).__qualname__, **dataclasses.asdict(obj)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"key must be JSON-able (dicts, lists, numbers, strings, dataclasses), "
                    f"found {type(obj).__name__}")


def _code_text(fn: Callable) -> str:
    """The source of ``fn`` (or of its class), else a description of its byte code."""
    target = fn
    if not (inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isclass(fn)):
        target = type(fn)                                # a callable object: its class
    try:
        return inspect.getsource(target)
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        if code is None:
            return repr(target)

        def describe(c) -> str:
            consts = [describe(k) if inspect.iscode(k) else repr(k) for k in c.co_consts]
            return f"{c.co_code.hex()}|{consts}|{c.co_names}"
        return describe(code)


def source_digest(*objs: Any) -> str:
    """SHA-256 of the source code of callables / classes; for a class, of its whole module's source."""
    h = hashlib.sha256()
    for obj in objs:
        if inspect.isclass(obj):
            module = sys.modules.get(obj.__module__)
            try:
                text = inspect.getsource(module) if module is not None else inspect.getsource(obj)
            except (OSError, TypeError):
                text = _code_text(obj)
        else:
            text = _code_text(obj)
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()


def model_code_digest(model: nn.Module) -> str:
    """SHA-256 of the source of every module (Python file) that defines a class among ``model.modules()``,
    torch's own excepted: editing the model, or a building block it uses, changes it."""
    classes = {type(m) for m in model.modules() if not type(m).__module__.startswith("torch.")}
    by_module = {}
    for cls in classes:
        by_module.setdefault(cls.__module__, cls)
    return source_digest(*(by_module[k] for k in sorted(by_module)))


def _record(name: str, key: Any, build_fn: Callable, train_fn: Callable) -> dict:
    try:
        key_json = json.dumps(key, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"key must be JSON-able: {exc}") from None
    return {"name": name, "key": key_json, "code": source_digest(build_fn, train_fn)}


def cache_path(name: str, key: Any, build_fn: Callable[[], nn.Module], train_fn: Callable) -> Path:
    """The file :func:`cached` uses for these inputs (calls ``build_fn`` once to see the model's classes)."""
    record = _record(name, key, build_fn, train_fn)
    record["model_code"] = model_code_digest(build_fn())
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / f"{_safe_name(name)}-{digest}.pt"


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:                                  # Windows: atomic replace only
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _try_load(path: Path, model: nn.Module, record: dict) -> Tuple[bool, Any, str]:
    """Load ``path`` into ``model``; ``(ok, stored result, why not)``."""
    if not path.exists():
        return False, None, "no cached file"
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:                             # truncated, corrupt, not a torch file
        return False, None, f"unreadable ({type(exc).__name__})"
    if not isinstance(data, dict) or data.get("cache_format") != _CACHE_FORMAT:
        return False, None, "not a model-cache file"
    if data.get("record") != record:
        return False, None, "written for a different key or code"
    try:
        if data.get("dtype"):
            model.to(getattr(torch, data["dtype"]))
        model.load_state_dict(data["state_dict"], strict=True)
    except Exception as exc:
        return False, None, f"weights do not fit the model ({type(exc).__name__})"
    result = data.get("result")
    return True, (json.loads(result) if isinstance(result, str) else None), ""


def _result_json(result: Any) -> Optional[str]:
    if result is None:
        return None
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    try:
        return json.dumps(result, default=_json_default)
    except (TypeError, ValueError):
        return None


def cached(name: str, build_fn: Callable[[], nn.Module], train_fn: Callable[[nn.Module], Any], *, key: Any,
           return_result: bool = False, verbose: bool = True) -> Union[nn.Module, Tuple[nn.Module, Any]]:
    """``build_fn()`` trained by ``train_fn(model)``, loaded from the cache when it was trained before.

    Args:
        name: a label for the model (part of the file name and of the key).
        build_fn: ``() -> model``: builds the untrained model (a module with a
            ``state_dict``, deterministic: the same call gives the same architecture).
        train_fn: ``model -> result``: trains the model in place.  Its result
            (for example a :class:`~frontier.models.training.TrainLog`) is stored
            with the weights when it is JSON-able (a dataclass becomes a dict).
        key: anything JSON-able that, with the code, determines the trained
            weights: the config, the task, the steps, the seed, and every
            global ``train_fn`` reads.
        return_result: also return ``train_fn``'s result (a dict when it comes
            from the cache; None when it was not JSON-able).
        verbose: print one line saying whether the model was loaded or trained.

    Returns:
        The trained model in eval mode (or ``(model, result)``).
    """
    safe = _safe_name(name)
    if not callable(build_fn):
        raise TypeError(f"build_fn must be callable () -> model, got {type(build_fn).__name__}")
    if not callable(train_fn):
        raise TypeError(f"train_fn must be callable model -> result, got {type(train_fn).__name__}")
    model = build_fn()
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_fn must return a torch.nn.Module, got {type(model).__name__}")
    record = _record(name, key, build_fn, train_fn)
    record["model_code"] = model_code_digest(model)
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]
    path = cache_dir() / f"{safe}-{digest}.pt"
    with _locked(path.with_name(path.name + ".lock")):
        ok, result, why = _try_load(path, model, record)
        if ok:
            if verbose:
                print(f"{name}: loaded from cache ({path})")
            model.eval()
            return (model, result) if return_result else model
        model = build_fn()                               # a fresh model: a failed load may have changed it
        start = time.perf_counter()
        result = train_fn(model)
        seconds = time.perf_counter() - start
        data = payload(model) if _has_config(model) else {
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "dtype": None}
        data.update({"cache_format": _CACHE_FORMAT, "record": record, "result": _result_json(result),
                     "train_seconds": seconds})
        atomic_torch_save(data, path)
    if verbose:
        extra = "" if why == "no cached file" else f"; the cached file was {why}"
        print(f"{name}: trained ({seconds:.1f} s) and cached ({path}){extra}")
    model.eval()
    return (model, result) if return_result else model


def _has_config(model: nn.Module) -> bool:
    from .io import model_config

    try:
        model_config(model)
        return True
    except TypeError:
        return False


def clear_cache(name: Optional[str] = None) -> int:
    """Delete the cached models called ``name`` (all when None); returns how many files were removed."""
    pattern = "*.pt" if name is None else f"{_safe_name(name)}-*.pt"
    removed = 0
    for path in cache_dir().glob(pattern):
        if name is not None and not re.fullmatch(re.escape(_safe_name(name)) + r"-[0-9a-f]{20}\.pt", path.name):
            continue
        lock = path.with_name(path.name + ".lock")
        with _locked(lock):
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        try:
            lock.unlink()
        except FileNotFoundError:
            pass
    return removed

"""Save a model to one file and load it back: its class, its configuration and its weights.

A file written by :func:`save` is a ``torch.save`` dict with

* ``"format"``: ``"frontier-model/1"``,
* ``"class"``: the model class's import path (``"frontier.models.tiny_lm.TinyLM"``),
* ``"config_class"`` and ``"config"``: the config dataclass's import path and its ``dataclasses.asdict``,
* ``"dtype"``: the floating dtype of the parameters (``"float32"``),
* ``"state_dict"``: the weights.

:func:`load` rebuilds ``Class(Config(**config))`` and loads the weights, so it
works for :class:`~frontier.models.tiny_lm.TinyLM`, :class:`~frontier.models.tiny_ssm.TinySSM`
and any module whose constructor takes its config dataclass as the first
argument and that keeps it as ``.config`` or ``.cfg``.  Files are read with
``torch.load(weights_only=True)``: loading runs no code stored in the file, and
only classes under the ``allowed_prefixes`` (default ``frontier.``) are built.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch
from torch import nn

__all__ = ["save", "load", "model_config", "FORMAT"]

#: The format tag stored in every file.
FORMAT = "frontier-model/1"


def _import_path(obj: type) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _resolve(path: str) -> type:
    module, _, name = path.rpartition(".")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def model_config(model: nn.Module) -> Any:
    """The config dataclass of ``model`` (its ``.config``, else ``.cfg``); ``TypeError`` when there is none."""
    for attr in ("config", "cfg"):
        cfg = getattr(model, attr, None)
        if cfg is not None and dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
            return cfg
    raise TypeError(f"{type(model).__name__} has no dataclass config in .config or .cfg, so it cannot be saved "
                    "with frontier.models.save")


def _float_dtype(model: nn.Module) -> Union[torch.dtype, None]:
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(dtypes) > 1:
        raise ValueError(f"the model mixes parameter dtypes {sorted(map(str, dtypes))}; cast it to one first")
    return dtypes.pop() if dtypes else None


def payload(model: nn.Module) -> Dict[str, Any]:
    """What :func:`save` writes, as a dict (the model cache adds its own keys to it)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    cfg = model_config(model)
    dtype = _float_dtype(model)
    return {
        "format": FORMAT,
        "class": _import_path(type(model)),
        "config_class": _import_path(type(cfg)),
        "config": dataclasses.asdict(cfg),
        "dtype": None if dtype is None else str(dtype).removeprefix("torch."),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def atomic_torch_save(obj: Any, path: Union[str, os.PathLike]) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same folder and ``os.replace``:
    a reader sees the old file or the whole new one, never half a file."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def save(model: nn.Module, path: Union[str, os.PathLike]) -> Path:
    """Write ``model`` (class, config, weights) to ``path`` atomically; returns the path.

    ``model`` needs a dataclass config in ``.config`` or ``.cfg`` (see the module docstring).
    """
    return atomic_torch_save(payload(model), path)


def read(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """The dict stored by :func:`save` (``torch.load(weights_only=True)``); ``ValueError`` if it is not one."""
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a model file written by frontier.models.save")
    return data


def build(data: Dict[str, Any], allowed_prefixes: Tuple[str, ...] = ("frontier.",)) -> nn.Module:
    """The model described by a :func:`save` payload, weights loaded (strictly), in eval mode."""
    for key in ("class", "config_class"):
        if not any(data[key].startswith(p) for p in allowed_prefixes):
            raise ValueError(f"refusing to build {data[key]!r}: not under {list(allowed_prefixes)} "
                             "(pass allowed_prefixes to allow it)")
    cls, cfg_cls = _resolve(data["class"]), _resolve(data["config_class"])
    model = cls(cfg_cls(**data["config"]))
    if data.get("dtype"):
        model = model.to(getattr(torch, data["dtype"]))
    model.load_state_dict(data["state_dict"], strict=True)
    return model.eval()


def load(path: Union[str, os.PathLike], *, allowed_prefixes: Tuple[str, ...] = ("frontier.",),
         map_location: Union[str, torch.device] = "cpu") -> nn.Module:
    """The model :func:`save` wrote to ``path``, in eval mode, on ``map_location``.

    Only classes whose import path starts with one of ``allowed_prefixes``
    are built (add your own package's prefix for a model defined elsewhere;
    a class defined in a notebook lives in ``__main__``).
    """
    if isinstance(allowed_prefixes, str):
        allowed_prefixes = (allowed_prefixes,)
    return build(read(path), tuple(allowed_prefixes)).to(map_location)

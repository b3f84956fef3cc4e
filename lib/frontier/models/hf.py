"""A Hugging Face causal language model behind the course's :class:`~frontier.models.protocol.LanguageModel` protocol.

``HFCausalLM("HuggingFaceTB/SmolLM2-135M")`` (online, or from a local folder)
wraps a ``transformers`` causal LM so that the course's own tools run on it
unchanged: :func:`frontier.models.generate` (incremental decoding through the
model's own key-value cache), :func:`frontier.models.sequence_logprobs`,
:func:`frontier.models.train` (``params=`` for adapters), hidden states per
layer for probes and early exits, and named weight matrices.

Optional: ``pip install -e ".[hf]"`` (``transformers``).  Lessons use it only
behind a parameter ``REAL_MODEL = ""`` that is off by default; the course's
tests and CI never download a model.

Offline (``HF_HUB_OFFLINE=1``, or ``local_files_only=True``) a hub name
loads only if the model is already in the local Hugging Face cache; otherwise
:class:`HFCausalLM` raises an ``OSError`` that says to run online once or pass
a local folder.
"""
from __future__ import annotations

import copy
import inspect
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch
from torch import nn

from ..validation import nonnegative_int, positive_int
from .protocol import ModelOutput

__all__ = ["HFCausalLM", "HFConfig", "HFCache", "transformers_available"]


def transformers_available() -> bool:
    """True when ``transformers`` can be imported (the ``[hf]`` extra is installed)."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def _offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class HFConfig:
    """The sizes of a wrapped model, in the course's names (``docs/glossary.md``)."""

    name: str
    model_type: str
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    max_seq_len: int


class HFCache:
    """The wrapped model's key-value cache (a ``transformers`` ``DynamicCache``) with the course's cache API:
    ``length``, ``copy()``, ``truncate(n)``."""

    def __init__(self, past: Any, batch_size: int):
        self.past = past
        self.batch_size = positive_int("batch_size", batch_size)

    @property
    def length(self) -> int:
        """Tokens cached."""
        return int(self.past.get_seq_length())

    def copy(self) -> "HFCache":
        """An independent copy."""
        return HFCache(copy.deepcopy(self.past), self.batch_size)

    def truncate(self, n: int) -> "HFCache":
        """Keep the first ``n`` cached tokens, in place; returns ``self``."""
        n = nonnegative_int("n", n)
        if n > self.length:
            raise ValueError(f"n must be at most the cached length {self.length}, got {n}")
        if n < self.length:
            self.past.crop(n - self.length)              # a negative count removes that many (transformers 4 and 5)
        return self

    def __repr__(self) -> str:
        return f"HFCache(batch_size={self.batch_size}, length={self.length})"


def _decoder_layers(model: nn.Module, n_layers: int) -> nn.ModuleList:
    """The ``nn.ModuleList`` of decoder blocks (``model.model.layers`` for Llama-style models)."""
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return module
    raise ValueError("could not find the model's list of decoder layers")


class HFCausalLM(nn.Module):
    """A ``transformers`` causal LM as a :class:`~frontier.models.protocol.LanguageModel`.

    Args:
        model_name_or_path: a hub name (``"HuggingFaceTB/SmolLM2-135M"``), a
            local folder written by ``save_pretrained``, or an already loaded
            ``transformers`` ``PreTrainedModel``.
        local_files_only: never download; default True when ``HF_HUB_OFFLINE`` is set.
        dtype: parameter dtype (``torch.float32`` on a CPU; ``torch.bfloat16`` on a GPU halves memory).
        device: where to put the model.
        load_tokenizer: also load the tokenizer (``self.tokenizer``; None if the folder has none).

    Attributes:
        hf: the wrapped ``transformers`` model.
        config: an :class:`HFConfig`.
        tokenizer: the Hugging Face tokenizer or None; see :meth:`encode` / :meth:`decode`.
    """

    def __init__(self, model_name_or_path: Union[str, os.PathLike, nn.Module], *,
                 local_files_only: Optional[bool] = None, dtype: torch.dtype = torch.float32,
                 device: Union[str, torch.device] = "cpu", load_tokenizer: bool = True):
        super().__init__()
        try:
            import transformers
        except ImportError as exc:
            raise ImportError('frontier.models.hf needs transformers: pip install -e ".[hf]" '
                              '(or pip install transformers)') from exc
        if local_files_only is None:
            local_files_only = _offline_env()
        self.tokenizer = None
        if isinstance(model_name_or_path, nn.Module):
            hf = model_name_or_path
            name = getattr(hf.config, "name_or_path", "") or type(hf).__name__
        else:
            name = os.fspath(model_name_or_path)
            if not isinstance(name, str) or not name:
                raise TypeError("model_name_or_path must be a hub name, a folder or a transformers model")
            is_dir = os.path.isdir(name)
            try:
                hf = transformers.AutoModelForCausalLM.from_pretrained(name, local_files_only=bool(local_files_only))
            except (OSError, ValueError) as exc:
                if is_dir:
                    raise
                if local_files_only or _offline_env():
                    raise OSError(
                        f"could not load {name!r} offline: it is not in the local Hugging Face cache. Run this "
                        "once with internet access (for example on Colab) to download it, or pass the path of "
                        "a local folder written by save_pretrained.") from exc
                raise
            if load_tokenizer:
                try:
                    self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                        name, local_files_only=bool(local_files_only) or is_dir)
                except Exception:                        # a folder with weights only: no tokenizer
                    self.tokenizer = None
        self.hf = hf.to(device=device, dtype=dtype).eval()
        c = self.hf.config
        n_heads = int(getattr(c, "num_attention_heads", 0) or 0)
        self.config = HFConfig(
            name=name, model_type=str(getattr(c, "model_type", "")),
            vocab_size=int(c.vocab_size), d_model=int(getattr(c, "hidden_size", 0) or 0),
            n_layers=int(c.num_hidden_layers), n_heads=n_heads,
            n_kv_heads=int(getattr(c, "num_key_value_heads", None) or n_heads),
            max_seq_len=int(getattr(c, "max_position_embeddings", 0) or 2048))
        object.__setattr__(self, "_layers", _decoder_layers(self.hf, self.config.n_layers))   # not a 2nd submodule
        params = inspect.signature(self.hf.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    # -- the protocol ---------------------------------------------------------------------------------------------
    @property
    def max_seq_len(self) -> int:
        return self.config.max_seq_len

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` token ids -> ``(B, T, d_model)`` input embeddings."""
        return self.hf.get_input_embeddings()(tokens)

    def new_cache(self, batch_size: int) -> HFCache:
        """An empty :class:`HFCache` for ``batch_size`` sequences."""
        from transformers import DynamicCache

        try:
            past = DynamicCache(config=self.hf.config)
        except TypeError:                                 # older transformers
            past = DynamicCache()
        return HFCache(past, batch_size)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def weight_matrices(self) -> Dict[str, nn.Parameter]:
        """Every ``nn.Linear`` weight inside the decoder layers, by its path in this module
        (``"hf.model.layers.0.self_attn.q_proj"``), shapes ``(out_features, in_features)``."""
        prefix = next(n for n, m in self.named_modules() if m is self._layers)
        return {name: m.weight for name, m in self.named_modules()
                if isinstance(m, nn.Linear) and name.startswith(prefix + ".")}

    def forward(self, tokens: Optional[torch.Tensor] = None, *, embeds: Optional[torch.Tensor] = None,
                cache: Optional[HFCache] = None, positions: Any = None, mask: Optional[torch.Tensor] = None,
                return_hidden: bool = False) -> ModelOutput:
        """See :class:`~frontier.models.protocol.LanguageModel`; ``hidden`` has ``n_layers + 1`` entries
        without the final norm, as there."""
        if (tokens is None) == (embeds is None):
            raise ValueError("pass exactly one of tokens (B, T) or embeds (B, T, d_model)")
        x = tokens if tokens is not None else embeds
        if tokens is not None and (not isinstance(tokens, torch.Tensor) or tokens.ndim != 2
                                   or tokens.is_floating_point()):
            raise ValueError("tokens must be a (batch, T) integer tensor")
        B, T = int(x.shape[0]), int(x.shape[1])
        past_len = 0 if cache is None else cache.length
        kwargs: Dict[str, Any] = {"use_cache": cache is not None}
        if cache is not None:
            if not isinstance(cache, HFCache):
                raise TypeError(f"cache must come from new_cache(), got {type(cache).__name__}")
            kwargs[self._cache_kw] = cache.past
        if positions is not None:
            pos = torch.as_tensor(np.asarray(positions), dtype=torch.long, device=x.device)
            if pos.shape != (T,):
                raise ValueError(f"positions must have shape ({T},), got {tuple(pos.shape)}")
            kwargs["position_ids"] = pos[None].expand(B, T)
        if mask is not None:
            S = past_len + T
            if mask.dtype != torch.bool or mask.shape != (T, S):
                raise ValueError(f"mask must be a bool tensor of shape ({T}, {S})")
            if not bool(mask.any(dim=-1).all()):
                raise ValueError("every query position needs at least one key it may attend")
            dtype = next(self.hf.parameters()).dtype
            additive = torch.zeros(T, S, dtype=dtype, device=x.device).masked_fill(~mask.to(x.device),
                                                                                    torch.finfo(dtype).min)
            kwargs["attention_mask"] = additive[None, None].expand(B, 1, T, S)
        hidden: List[torch.Tensor] = []
        handles = []
        if return_hidden:
            handles.append(self.hf.get_input_embeddings().register_forward_hook(
                lambda m, a, out: hidden.append(out)))
            for layer in self._layers:
                handles.append(layer.register_forward_hook(
                    lambda m, a, out: hidden.append(out[0] if isinstance(out, tuple) else out)))
        try:
            if tokens is not None:
                out = self.hf(input_ids=tokens.long(), **kwargs)
            else:
                out = self.hf(inputs_embeds=embeds, **kwargs)
        finally:
            for h in handles:
                h.remove()
        if return_hidden and embeds is not None:
            hidden.insert(0, embeds)
        logits = out.logits
        return ModelOutput(logits=logits, aux_loss=logits.new_zeros(()), hidden=hidden if return_hidden else None,
                           cache=cache)

    # -- text -------------------------------------------------------------------------------------------------------
    def encode(self, text: str) -> torch.Tensor:
        """``(1, T)`` int64 token ids of ``text`` (needs the model's tokenizer)."""
        if self.tokenizer is None:
            raise ValueError("this model was loaded without a tokenizer")
        return torch.tensor([self.tokenizer.encode(text)], dtype=torch.long)

    def decode(self, ids: Union[torch.Tensor, List[int]]) -> str:
        """The text of ``ids`` ``(T,)`` (needs the model's tokenizer)."""
        if self.tokenizer is None:
            raise ValueError("this model was loaded without a tokenizer")
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return self.tokenizer.decode(ids)

"""An optional adapter: a published CLIP checkpoint from the Hugging Face hub behind the tiny CLIP's interface.

``HFCLIP(name)`` offers ``encode_image(images) -> (B, D)`` and
``encode_captions(captions) -> (B, D)`` (not normalised) and
``logit_scale``, like :class:`~frontier.multimodal.clip.TinyCLIP`, so the
section's zero-shot and retrieval code runs on it unchanged.  It needs
``pip install -e ".[hf]"`` and the internet once (to download the weights);
import this module explicitly, lessons only do so when ``REAL_MODEL`` is set.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .patches import as_image

__all__ = ["HFCLIP"]


class HFCLIP:
    """A Hugging Face ``CLIPModel`` + ``CLIPProcessor`` (e.g. ``"openai/clip-vit-base-patch32"``), eval mode, CPU."""

    def __init__(self, name: str):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a Hugging Face model id, got {name!r}")
        try:
            from transformers import CLIPModel, CLIPProcessor
        except ImportError as exc:                                           # pragma: no cover - optional extra
            raise ImportError('a published CLIP needs transformers: pip install -e ".[hf]"') from exc
        self.name = name
        self.model = CLIPModel.from_pretrained(name).eval()
        self.processor = CLIPProcessor.from_pretrained(name)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach())

    @torch.no_grad()
    def encode_image(self, images: Sequence) -> torch.Tensor:
        """Images ``(H, W)`` / ``(H, W, 3)`` uint8 (any size: the processor resizes and crops) -> ``(B, D)``."""
        arrays = []
        for im in images:
            a = as_image(im)
            arrays.append(np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a[..., :3])
        inputs = self.processor(images=arrays, return_tensors="pt")
        return self.model.get_image_features(**inputs)

    @torch.no_grad()
    def encode_captions(self, captions: Sequence[str]) -> torch.Tensor:
        if isinstance(captions, str):
            raise TypeError("captions must be a list of strings, not one string")
        inputs = self.processor(text=list(captions), return_tensors="pt", padding=True)
        return self.model.get_text_features(**inputs)

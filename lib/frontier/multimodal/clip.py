"""A tiny CLIP over handwritten digits and their captions, trained in seconds.

* The **image encoder** is a small CNN over the 8 x 8 digit: two 3 x 3
  convolutions and a 2 x 2 average pool give a 4 x 4 grid of ``d_feature``
  features, the *visual tokens* the vision-language model of
  :mod:`frontier.multimodal.vlm` reads; their mean, through a linear map,
  is the image embedding.
* The **text encoder** is a course :class:`~frontier.models.TinyLM` run as an
  encoder over a word-level caption (causal attention, as CLIP's text
  transformer); like CLIP we take the hidden state at the end-of-text token
  and project it.
* Both embeddings are L2-normalised and compared with a learned temperature
  (log inverse temperature initialised at ``log(1/0.07)``) by the symmetric
  InfoNCE loss of :mod:`frontier.multimodal.contrastive`.

Shapes: ``B`` batch, ``L`` caption tokens, ``F`` = ``d_feature``, ``D`` = ``d_embed``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn

from ..models import TinyLM, TinyLMConfig, Tokenizer, cached, train
from ._util import log_dict
from ..validation import positive_int
from .contrastive import CLIP_INIT_LOGIT_SCALE, info_nce, normalize, recall_at_k, zero_shot_accuracy
from .digits import (
    HELDOUT_COMBOS, HELDOUT_TEMPLATES, TRAIN_TEMPLATES, DigitSplit, all_caption_texts, class_captions,
    combo_caption, combos, load_digit_split, parity, sample_training_captions, size_word,
)

__all__ = ["TinyCLIPConfig", "TinyCLIP", "caption_tokenizer", "train_tiny_clip", "trained_tiny_clip",
           "evaluate_clip", "as_image_batch", "caption_image_similarity"]


@dataclass(frozen=True)
class TinyCLIPConfig:
    """Sizes of a :class:`TinyCLIP`: ``d_feature`` CNN channels, ``d_embed`` shared embedding width,
    and the text encoder's ``d_model``, ``n_layers``, ``n_heads``, ``d_ff``."""

    d_feature: int = 32
    d_embed: int = 32
    d_model: int = 48
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 96
    max_caption_len: int = 12

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            positive_int(k, v)


@lru_cache(maxsize=1)
def caption_tokenizer() -> Tokenizer:
    """The word-level tokenizer over every caption of :mod:`frontier.multimodal.digits` (deterministic)."""
    return Tokenizer.word_level(all_caption_texts())


def as_image_batch(images) -> torch.Tensor:
    """``(B, 8, 8)`` or ``(B, 1, 8, 8)`` pixels (NumPy or torch) -> ``(B, 1, H, W)`` float32 tensor."""
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.array(images))
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"images must have shape (B, H, W) or (B, 1, H, W), got {tuple(x.shape)}")
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.int64, torch.int32)):
        raise TypeError(f"images must hold numbers, got {x.dtype}")
    return x.float()


class _ImageEncoder(nn.Module):
    def __init__(self, d_feature: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, d_feature, 3, padding=1)
        self.conv2 = nn.Conv2d(d_feature, d_feature, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:          # (B, 1, 8, 8) -> (B, 16, F)
        h = self.pool(self.act(self.conv2(self.act(self.conv1(x)))))
        return h.flatten(2).transpose(1, 2)


class TinyCLIP(nn.Module):
    """Image and caption encoders into one ``d_embed`` space (see the module docstring).

    * :meth:`image_features` ``(B, 8, 8) -> (B, 16, F)``: the 4 x 4 grid of CNN features (visual tokens).
    * :meth:`encode_image` ``(B, 8, 8) -> (B, D)`` and :meth:`encode_text` ``(B, L) -> (B, D)``, not normalised.
    * :meth:`encode_captions` ``list of str -> (B, D)``.
    * ``logit_scale``: the learned log inverse temperature (a parameter).
    """

    def __init__(self, cfg: TinyCLIPConfig = TinyCLIPConfig(), seed: int = 0):
        super().__init__()
        if not isinstance(cfg, TinyCLIPConfig):
            raise TypeError(f"cfg must be a TinyCLIPConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.tokenizer = caption_tokenizer()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.image_encoder = _ImageEncoder(cfg.d_feature)
            self.image_proj = nn.Linear(cfg.d_feature, cfg.d_embed)
            self.text_encoder = TinyLM(TinyLMConfig(vocab_size=self.tokenizer.vocab_size, d_model=cfg.d_model,
                                                    n_layers=cfg.n_layers, n_heads=cfg.n_heads, d_ff=cfg.d_ff,
                                                    max_seq_len=cfg.max_caption_len), seed=int(seed))
            self.text_proj = nn.Linear(cfg.d_model, cfg.d_embed)
        self.logit_scale = nn.Parameter(torch.tensor(CLIP_INIT_LOGIT_SCALE))

    def image_features(self, images) -> torch.Tensor:
        return self.image_encoder(as_image_batch(images))

    def encode_image(self, images) -> torch.Tensor:
        return self.image_proj(self.image_features(images).mean(dim=1))

    def tokenize(self, captions: Sequence[str]) -> torch.Tensor:
        """``(B, L)`` token ids, each caption ending in ``<|eos|>``, right-padded."""
        if isinstance(captions, str):
            raise TypeError("captions must be a list of strings, not one string")
        tokens, _ = self.tokenizer.encode_batch(list(captions), eos=True, max_len=self.cfg.max_caption_len)
        return tokens

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """The hidden state at each caption's ``<|eos|>`` (its last real token), projected: ``(B, D)``."""
        out = self.text_encoder(tokens, return_hidden=True)
        h = out.hidden[-1]                                             # (B, L, d_model)
        last = (tokens != Tokenizer.PAD).sum(dim=1) - 1
        return self.text_proj(h[torch.arange(h.shape[0]), last])

    def encode_captions(self, captions: Sequence[str]) -> torch.Tensor:
        return self.encode_text(self.tokenize(captions))


def train_tiny_clip(model: TinyCLIP, data: DigitSplit, steps: int = 250, batch_size: int = 128, lr: float = 3e-3,
                    seed: int = 0, progress: bool = True, p_attribute: float = 0.3):
    """Train ``model`` in place with the symmetric InfoNCE loss on (digit, sampled caption) pairs.

    Every step draws ``batch_size`` training images and one caption each
    (:func:`~frontier.multimodal.digits.sample_training_captions`).  Returns
    the :class:`~frontier.models.TrainLog`; its metrics include
    ``temperature`` (``1 / exp(logit_scale)``) and ``logit_scale``.
    """
    steps, batch_size = positive_int("steps", steps), positive_int("batch_size", batch_size)
    images = torch.tensor(np.asarray(data.train_images))
    labels = np.asarray(data.train_labels)

    def batches(g: np.random.Generator):
        idx = g.choice(len(labels), size=min(batch_size, len(labels)), replace=False)
        captions = sample_training_captions(labels[idx], g, p_attribute)
        unique = sorted(set(captions))                  # many pairs share a caption: encode each text once
        where = torch.tensor([unique.index(c) for c in captions])
        return images[idx], model.tokenize(unique), where

    def loss_fn(m: TinyCLIP, batch):
        x, tokens, where = batch
        loss = info_nce(m.encode_image(x), m.encode_text(tokens)[where], m.logit_scale)
        s = float(m.logit_scale.detach())
        return loss, {"logit_scale": s, "temperature": float(np.exp(-min(s, np.log(100.0))))}

    return train(model, loss_fn, batches, steps, lr=lr, warmup=max(1, steps // 10), schedule="cosine",
                 record_every=max(1, steps // 40), progress=progress, seed=seed, desc="tiny CLIP")


def trained_tiny_clip(steps: int = 250, seed: int = 0, cfg: TinyCLIPConfig = TinyCLIPConfig(),
                      data_seed: int = 0, progress: bool = True, verbose: bool = True):
    """A :class:`TinyCLIP` trained by :func:`train_tiny_clip`, from the trained-model cache when it is there.

    Returns ``(model, log)`` where ``log`` is the training log as a dict
    (``step``, ``loss``, ``metrics``, ...).
    """
    data = load_digit_split(seed=data_seed)

    def build():
        return TinyCLIP(cfg, seed=seed)

    def fit(m):
        return train_tiny_clip(m, data, steps=steps, seed=seed, progress=progress)

    key = {"cfg": cfg, "steps": steps, "seed": seed, "data_seed": data_seed,
           "captions": all_caption_texts(), "train_templates": TRAIN_TEMPLATES, "heldout": HELDOUT_COMBOS}
    model, log = cached("tiny-clip-digits", build, fit, key=key, return_result=True, verbose=verbose)
    return model, log_dict(log)


@torch.no_grad()
def evaluate_clip(model: TinyCLIP, images, labels) -> Dict[str, float]:
    """Zero-shot and retrieval scores of a tiny CLIP on held-out digit images ``(N, 8, 8)`` with labels ``(N,)``.

    Keys:

    * ``zero_shot_seen``: accuracy of picking the right one of ten captions
      written with a training template (averaged over :data:`TRAIN_TEMPLATES`);
    * ``zero_shot_unseen``: the same with :data:`HELDOUT_TEMPLATES`, never
      seen in training (chance is 0.1 for both);
    * ``recall@1_seen`` / ``recall@5_seen`` (and ``_unseen``): image -> caption
      retrieval among the ten class captions (recall@1 equals the zero-shot accuracy);
    * ``combo_seen`` / ``combo_unseen``: accuracy of picking the right one of
      the four "a {size} {parity} digit" captions, for images whose
      combination was in training and for those whose combination was held
      out (chance 0.25);
    * ``text_to_image_precision@10_unseen_combo``: of the ten images most
      similar to the held-out combination's caption, the fraction that have it.
    """
    was = model.training
    model.eval()
    y = np.asarray(labels)
    img = model.encode_image(images)
    out: Dict[str, float] = {}
    for kind, temps in (("seen", TRAIN_TEMPLATES), ("unseen", HELDOUT_TEMPLATES)):
        accs, r1, r5 = [], [], []
        for t in temps:
            txt = model.encode_captions(class_captions(t))
            accs.append(zero_shot_accuracy(img, txt, y))
            sim = (normalize(img) @ normalize(txt).T).numpy()
            rel = np.eye(10, dtype=bool)[y]
            r1.append(recall_at_k(sim, 1, rel))
            r5.append(recall_at_k(sim, 5, rel))
        out[f"zero_shot_{kind}"] = float(np.mean(accs))
        out[f"recall@1_{kind}"] = float(np.mean(r1))
        out[f"recall@5_{kind}"] = float(np.mean(r5))
    cs = combos()
    txt = model.encode_captions([combo_caption(s, p) for s, p in cs])
    pred = (normalize(img) @ normalize(txt).T).argmax(dim=1).numpy()
    truth = np.array([cs.index((size_word(d), parity(d))) for d in y])
    held = np.array([(size_word(d), parity(d)) in HELDOUT_COMBOS for d in y])
    out["combo_seen"] = float(np.mean(pred[~held] == truth[~held])) if (~held).any() else float("nan")
    out["combo_unseen"] = float(np.mean(pred[held] == truth[held])) if held.any() else float("nan")
    s, p = HELDOUT_COMBOS[0]
    q = normalize(model.encode_captions([combo_caption(s, p)]))
    top = torch.argsort(-(q @ normalize(img).T)[0])[:10].numpy()
    out["text_to_image_precision@10_unseen_combo"] = float(np.mean(held[top]))
    model.train(was)
    return out


@torch.no_grad()
def caption_image_similarity(model, captions: Sequence[str], images) -> np.ndarray:
    """Cosine similarities ``(len(captions), N)`` between captions and images under any model with
    ``encode_captions`` and ``encode_image`` (a :class:`TinyCLIP` or :class:`~frontier.multimodal.hf_clip.HFCLIP`)."""
    if hasattr(model, "eval"):
        model.eval()
    t = normalize(model.encode_captions(list(captions)))
    i = normalize(model.encode_image(images))
    return (t @ i.T).cpu().numpy()

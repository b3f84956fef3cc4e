"""A tiny vision-language model: frozen image features -> a learned projection -> visual tokens -> a TinyLM.

The LLaVA recipe (Liu et al. 2023, arXiv 2304.08485; LLaVA-1.5 uses a
two-layer MLP projector, arXiv 2310.03744) at digit scale::

    v = Projector(ImageEncoder(image))           # (B, 16, d_model): 16 visual tokens
    e = LM.embed([<bos> question <sep>])         # (B, L, d_model)
    h = LM(embeds=[v; e])                        # the decoder reads both
    answer = argmax h[last position]

The image encoder is a trained :class:`~frontier.multimodal.clip.TinyCLIP`'s
CNN, frozen.  Unlike LLaVA, whose language model was pretrained on text, our
:class:`~frontier.models.TinyLM` starts from scratch, so the projector and
the language model are trained together on the questions (LLaVA's stage 1
trains the projector alone).

Questions (:data:`QUESTIONS`): "what digit is this ?" (ten answers), "is it
larger than five ?" and "is it even ?" (yes / no).  Ablations that show the
model uses the image: ``visual="blank"`` (an all-zero image),
``visual="random_projection"`` (the projector replaced by an untrained one of
the same shape) and ``visual="none"`` (no visual tokens).  The text-only
baseline (:func:`text_only_baseline`) answers every question with the answer
most common in training for that question: the best any model can do without
looking.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models import TinyLM, TinyLMConfig, Tokenizer, cached, train
from ._util import log_dict
from ..validation import choice, positive_int
from .clip import TinyCLIP, as_image_batch
from .digits import DIGIT_WORDS, DigitSplit, parity

__all__ = ["QUESTIONS", "VISUAL_MODES", "TinyVLMConfig", "TinyVLM", "qa_tokenizer", "answer_for",
           "encode_questions", "train_tiny_vlm", "trained_tiny_vlm", "evaluate_vlm", "text_only_baseline",
           "answer_questions"]

#: Question kind -> question text.
QUESTIONS = {"digit": "what digit is this ?", "larger": "is it larger than five ?", "even": "is it even ?"}
#: How the visual tokens are made (see the module docstring).
VISUAL_MODES = ("image", "blank", "random_projection", "none")


def answer_for(kind: str, digit: int) -> str:
    """The correct answer word to question ``kind`` about ``digit``."""
    choice("kind", kind, tuple(QUESTIONS))
    d = int(digit)
    if kind == "digit":
        return DIGIT_WORDS[d]
    if kind == "larger":
        return "yes" if d > 5 else "no"
    return "yes" if parity(d) == "even" else "no"


@lru_cache(maxsize=1)
def qa_tokenizer() -> Tokenizer:
    """Word-level tokenizer over the questions and every answer."""
    return Tokenizer.word_level(list(QUESTIONS.values()) + list(DIGIT_WORDS) + ["yes", "no"])


def encode_questions(kinds: Sequence[str]):
    """``(tokens (B, L), answer_pos (B,))``: ``<bos> question <sep>`` right-padded; ``answer_pos`` is the
    index of ``<sep>``, whose next-token prediction is the answer."""
    tok = qa_tokenizer()
    rows = [tok.encode(QUESTIONS[choice("kind", k, tuple(QUESTIONS))], bos=True) + [Tokenizer.SEP] for k in kinds]
    L = max(len(r) for r in rows)
    tokens = torch.full((len(rows), L), Tokenizer.PAD, dtype=torch.int64)
    for i, r in enumerate(rows):
        tokens[i, :len(r)] = torch.tensor(r)
    return tokens, torch.tensor([len(r) - 1 for r in rows])


@dataclass(frozen=True)
class TinyVLMConfig:
    """The language model's sizes (``d_model``, ``n_layers``, ``n_heads``, ``d_ff``) and the projector's hidden width."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    d_projector: int = 64

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            positive_int(k, v)


class TinyVLM(nn.Module):
    """A frozen :class:`TinyCLIP` image encoder, a two-layer MLP projector and a :class:`TinyLM`.

    ``forward(images, tokens, visual="image") -> logits (B, n_visual + L, vocab)``;
    :meth:`visual_tokens` ``(B, 8, 8) -> (B, 16, d_model)``.
    """

    def __init__(self, clip: TinyCLIP, cfg: TinyVLMConfig = TinyVLMConfig(), seed: int = 0):
        super().__init__()
        if not isinstance(clip, TinyCLIP):
            raise TypeError(f"clip must be a TinyCLIP, got {type(clip).__name__}")
        self.cfg = cfg
        self.clip = clip
        for p in self.clip.parameters():
            p.requires_grad_(False)
        d_feature = clip.cfg.d_feature
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.projector = nn.Sequential(nn.Linear(d_feature, cfg.d_projector), nn.GELU(),
                                           nn.Linear(cfg.d_projector, cfg.d_model))
            self.random_projector = nn.Sequential(nn.Linear(d_feature, cfg.d_projector), nn.GELU(),
                                                  nn.Linear(cfg.d_projector, cfg.d_model))
            self.lm = TinyLM(TinyLMConfig(vocab_size=qa_tokenizer().vocab_size, d_model=cfg.d_model,
                                          n_layers=cfg.n_layers, n_heads=cfg.n_heads, d_ff=cfg.d_ff,
                                          max_seq_len=64), seed=int(seed))
        for p in self.random_projector.parameters():        # the ablation's stand-in: never trained
            p.requires_grad_(False)

    def trainable_parameters(self) -> List[nn.Parameter]:
        """The projector's and the language model's parameters (the image encoder stays frozen)."""
        return list(self.projector.parameters()) + list(self.lm.parameters())

    @torch.no_grad()
    def image_features(self, images) -> torch.Tensor:
        """Frozen CLIP features ``(B, 16, d_feature)``."""
        self.clip.eval()
        return self.clip.image_features(images)

    def visual_tokens(self, features: torch.Tensor, visual: str = "image") -> torch.Tensor:
        """``(B, 16, d_feature)`` features -> ``(B, 16, d_model)`` visual tokens (``(B, 0, d_model)`` for ``"none"``)."""
        choice("visual", visual, VISUAL_MODES)
        if visual == "none":
            return features.new_zeros(features.shape[0], 0, self.cfg.d_model)
        proj = self.random_projector if visual == "random_projection" else self.projector
        return proj(features)

    def forward_features(self, features: torch.Tensor, tokens: torch.Tensor, visual: str = "image") -> torch.Tensor:
        """Logits ``(B, n_visual + L, vocab)`` from precomputed image features and question tokens ``(B, L)``."""
        v = self.visual_tokens(features, visual)
        x = torch.cat([v, self.lm.embed(tokens)], dim=1)
        return self.lm(embeds=x).logits

    def forward(self, images, tokens: torch.Tensor, visual: str = "image") -> torch.Tensor:
        choice("visual", visual, VISUAL_MODES)
        x = as_image_batch(images)
        if visual == "blank":
            x = torch.zeros_like(x)
        return self.forward_features(self.image_features(x), tokens, visual)


def _answer_logits(model: TinyVLM, features, kinds, visual):
    tokens, pos = encode_questions(kinds)
    logits = model.forward_features(features, tokens, visual)
    n_vis = logits.shape[1] - tokens.shape[1]
    return logits[torch.arange(len(kinds)), n_vis + pos]                    # (B, vocab)


def train_tiny_vlm(model: TinyVLM, data: DigitSplit, steps: int = 300, batch_size: int = 64, lr: float = 3e-3,
                   seed: int = 0, progress: bool = True):
    """Train the projector and language model (image encoder frozen) to answer :data:`QUESTIONS` about
    training digits; cross-entropy on the answer token only.  Returns the :class:`~frontier.models.TrainLog`."""
    steps, batch_size = positive_int("steps", steps), positive_int("batch_size", batch_size)
    feats = model.image_features(np.asarray(data.train_images))              # frozen: compute once
    labels = np.asarray(data.train_labels)
    kinds_all = list(QUESTIONS)
    tok = qa_tokenizer()

    def batches(g: np.random.Generator):
        idx = g.integers(len(labels), size=batch_size)
        kinds = [kinds_all[i] for i in g.integers(len(kinds_all), size=batch_size)]
        target = torch.tensor([tok.token_to_id(answer_for(k, labels[i])) for k, i in zip(kinds, idx)])
        return feats[idx], kinds, target

    def loss_fn(m: TinyVLM, batch):
        f, kinds, target = batch
        logits = _answer_logits(m, f, kinds, "image")
        return F.cross_entropy(logits, target), {"accuracy": float((logits.argmax(1) == target).float().mean())}

    return train(model, loss_fn, batches, steps, lr=lr, warmup=max(1, steps // 10), schedule="cosine",
                 record_every=max(1, steps // 30), progress=progress, seed=seed,
                 params=model.trainable_parameters(), desc="tiny VLM")


@torch.no_grad()
def answer_questions(model: TinyVLM, images, kinds: Sequence[str], visual: str = "image") -> List[str]:
    """The model's answer word to question ``kinds[i]`` about ``images[i]`` (greedy)."""
    x = as_image_batch(images)
    if len(kinds) != x.shape[0]:
        raise ValueError(f"need one question kind per image, got {len(kinds)} for {x.shape[0]} images")
    if visual == "blank":
        x = torch.zeros_like(x)
    model.eval()
    ids = _answer_logits(model, model.image_features(x), list(kinds), visual).argmax(1).tolist()
    tok = qa_tokenizer()
    return [tok.id_to_token(i) for i in ids]


def text_only_baseline(train_labels, test_labels) -> Dict[str, float]:
    """Test accuracy per question kind of answering with the training set's most common answer (no image)."""
    tr, te = np.asarray(train_labels), np.asarray(test_labels)
    out = {}
    for k in QUESTIONS:
        answers = [answer_for(k, d) for d in tr]
        best = max(sorted(set(answers)), key=answers.count)
        out[k] = float(np.mean([answer_for(k, d) == best for d in te]))
    out["mean"] = float(np.mean([out[k] for k in QUESTIONS]))
    return out


def evaluate_vlm(model: TinyVLM, images, labels, visual: str = "image") -> Dict[str, float]:
    """Accuracy per question kind (and ``mean``) on ``images`` ``(N, 8, 8)``, every image asked every question."""
    y = np.asarray(labels)
    out = {}
    for k in QUESTIONS:
        pred = answer_questions(model, images, [k] * len(y), visual)
        out[k] = float(np.mean([p == answer_for(k, d) for p, d in zip(pred, y)]))
    out["mean"] = float(np.mean([out[k] for k in QUESTIONS]))
    return out


def trained_tiny_vlm(clip: TinyCLIP, data: DigitSplit, steps: int = 300, seed: int = 0,
                     cfg: TinyVLMConfig = TinyVLMConfig(), progress: bool = True, verbose: bool = True):
    """A :class:`TinyVLM` on top of ``clip`` trained by :func:`train_tiny_vlm`, from the model cache when there.

    The cache key includes a digest of ``clip``'s weights and of the training
    data, so a different CLIP or split retrains.  Returns ``(model, log)``
    with the log as a dict.
    """
    state = {k: v.detach().clone() for k, v in clip.state_dict().items()}
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].numpy().tobytes())
    h.update(np.asarray(data.train_labels).tobytes())
    h.update(np.asarray(data.train_images).tobytes())

    def build():
        c = TinyCLIP(clip.cfg)
        c.load_state_dict(state)
        return TinyVLM(c, cfg, seed=seed)

    def fit(m):
        return train_tiny_vlm(m, data, steps=steps, seed=seed, progress=progress)

    key = {"clip_and_data": h.hexdigest(), "cfg": cfg, "steps": steps, "seed": seed, "questions": QUESTIONS}
    model, log = cached("tiny-vlm-digits", build, fit, key=key, return_result=True, verbose=verbose)
    return model, log_dict(log)

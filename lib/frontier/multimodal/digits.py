"""The section's offline image data: scikit-learn's handwritten digits and scikit-image's bundled photographs.

* :func:`load_digit_split` gives the 1,797 8 x 8 digits (UCI; values 0-16,
  scaled here to [0, 1]) split into train and test images with a seed.
* Captions describe a digit by its name ("seven") and two attributes, its
  parity ("even"/"odd") and its size ("small" for 0-4, "large" for 5-9).
  Some caption *templates* and one *attribute combination* are held out of
  training, so a zero-shot test can tell real generalisation from
  classification on the training captions (see :data:`TRAIN_TEMPLATES`,
  :data:`HELDOUT_TEMPLATES`, :data:`HELDOUT_COMBOS`).
* :func:`sample_image` loads one of scikit-image's bundled photographs
  (astronaut, coffee, chelsea, camera), which ship inside the package: no download.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import List, Sequence, Tuple

import numpy as np

from ..validation import choice, fraction, rng as _rng

__all__ = ["DIGIT_WORDS", "TRAIN_TEMPLATES", "HELDOUT_TEMPLATES", "ATTRIBUTE_TEMPLATES", "COMBO_TEMPLATE",
           "HELDOUT_COMBOS", "SAMPLE_IMAGES", "DigitSplit", "load_digit_split", "parity", "size_word",
           "class_captions", "combo_caption", "combos", "all_caption_texts", "sample_training_captions",
           "sample_image"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Templates for naming the digit that training uses.
TRAIN_TEMPLATES = ("a handwritten {word}", "the digit {word}", "a picture of the number {word}")
#: Templates never seen in training; every word in them occurs in training captions.
HELDOUT_TEMPLATES = ("a picture of the digit {word}", "the handwritten digit {word}")
#: Single-attribute templates (every digit gets them in training).
ATTRIBUTE_TEMPLATES = ("a {size} digit", "an {parity} digit")
#: The two-attribute template; :data:`HELDOUT_COMBOS` never occur in training.
COMBO_TEMPLATE = "a {size} {parity} digit"
HELDOUT_COMBOS = (("large", "even"),)
SAMPLE_IMAGES = ("astronaut", "coffee", "chelsea", "camera")


def parity(digit: int) -> str:
    return "even" if int(digit) % 2 == 0 else "odd"


def size_word(digit: int) -> str:
    return "small" if int(digit) < 5 else "large"


def combos() -> List[Tuple[str, str]]:
    """The four ``(size, parity)`` combinations, in a fixed order."""
    return [(s, p) for s in ("small", "large") for p in ("even", "odd")]


def combo_caption(size: str, par: str) -> str:
    return COMBO_TEMPLATE.format(size=size, parity=par)


def class_captions(template: str) -> List[str]:
    """The ten captions of ``template`` (with a ``{word}`` slot), one per digit 0-9."""
    if "{word}" not in template:
        raise ValueError(f"template must contain '{{word}}', got {template!r}")
    return [template.format(word=w) for w in DIGIT_WORDS]


def all_caption_texts() -> List[str]:
    """Every caption a lesson uses (training and held out), so one word-level tokenizer covers them all."""
    texts = [c for t in TRAIN_TEMPLATES + HELDOUT_TEMPLATES for c in class_captions(t)]
    texts += [t.format(size=s, parity=p) for t in ATTRIBUTE_TEMPLATES for s, p in combos()]
    texts += [combo_caption(s, p) for s, p in combos()]
    return texts


def sample_training_captions(labels: Sequence[int], rng, p_attribute: float = 0.3) -> List[str]:
    """One training caption per label: a :data:`TRAIN_TEMPLATES` caption, or with probability
    ``p_attribute`` an attribute caption (single attribute, or the combination unless it is held out)."""
    g = _rng(rng)
    fraction("p_attribute", p_attribute)
    out = []
    for y in np.asarray(labels).tolist():
        if g.random() < p_attribute:
            combo = (size_word(y), parity(y))
            kinds = list(ATTRIBUTE_TEMPLATES) + ([] if combo in HELDOUT_COMBOS else [COMBO_TEMPLATE])
            t = kinds[int(g.integers(len(kinds)))]
            out.append(t.format(size=combo[0], parity=combo[1]))
        else:
            t = TRAIN_TEMPLATES[int(g.integers(len(TRAIN_TEMPLATES)))]
            out.append(t.format(word=DIGIT_WORDS[y]))
    return out


@dataclass(frozen=True)
class DigitSplit:
    """Digits split into train and test: images ``(N, 8, 8)`` float32 in [0, 1], labels ``(N,)`` int64."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@lru_cache(maxsize=4)
def _split(test_fraction: float, seed: int) -> DigitSplit:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    te, tr = order[:n_test], order[n_test:]
    out = DigitSplit(images[tr], labels[tr], images[te], labels[te])
    for a in (out.train_images, out.train_labels, out.test_images, out.test_labels):
        a.setflags(write=False)
    return out


def load_digit_split(test_fraction: float = 0.25, seed: int = 0) -> DigitSplit:
    """scikit-learn's 1,797 digits (bundled with the package), shuffled with ``seed`` and split."""
    test_fraction = fraction("test_fraction", test_fraction)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    return _split(float(test_fraction), int(seed))


def sample_image(name: str = "astronaut", grey: bool = False) -> np.ndarray:
    """One of scikit-image's bundled photographs as a ``(H, W, 3)`` (or ``(H, W)`` grey) uint8 array.

    ``astronaut`` 512 x 512, ``coffee`` 400 x 600, ``chelsea`` 300 x 451 (colour); ``camera`` 512 x 512 grey.
    """
    choice("name", name, SAMPLE_IMAGES)
    import skimage.data
    from skimage.color import rgb2gray

    img = getattr(skimage.data, name)()
    if grey and img.ndim == 3:
        img = (rgb2gray(img) * 255).round().astype(np.uint8)
    return img

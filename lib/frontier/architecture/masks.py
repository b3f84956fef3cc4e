"""The attention patterns that :mod:`frontier.architecture.costs` counts, as masks.

Each function returns a boolean NumPy array of shape ``(T, T)``: entry
``[i, j]`` is True when query ``i`` may attend key ``j``.  The cost models
count these pairs in closed form; tests check the closed forms against
``mask.sum()``, and the lessons draw the masks.

Conventions shared with the cost models:

* ``window`` is the number of keys a query can reach on one side, itself
  included: causal ``0 <= i - j < window``, non-causal ``|i - j| < window``.
  ``window == T`` is plain attention.
* Global tokens are the first ``n_global`` positions: they attend every key
  (that causality allows) and every query attends them.
"""
from __future__ import annotations

import numpy as np

from ..validation import nonnegative_int, positive_int

__all__ = ["dense_mask", "longformer_mask", "strided_mask", "bigbird_mask"]


def dense_mask(T: int, causal: bool = False) -> np.ndarray:
    """Every pair (non-causal) or every ``j <= i`` (causal)."""
    T = positive_int("T", T)
    m = np.ones((T, T), dtype=bool)
    return np.tril(m) if causal else m


def longformer_mask(T: int, window: int, n_global: int = 0, causal: bool = False) -> np.ndarray:
    """Sliding window plus global tokens (Longformer, Beltagy et al. 2020)."""
    T = positive_int("T", T)
    window = positive_int("window", window)
    n_global = nonnegative_int("n_global", n_global)
    if window > T:
        raise ValueError(f"window ({window}) must not exceed the sequence length T ({T})")
    if n_global > T:
        raise ValueError(f"n_global ({n_global}) must not exceed the sequence length T ({T})")
    i = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    d = i - j
    band = ((d >= 0) & (d < window)) if causal else (np.abs(d) < window)
    glob = (i < n_global) | (j < n_global)
    if causal:
        glob &= d >= 0
    return band | glob


def strided_mask(T: int, stride: int) -> np.ndarray:
    """The causal strided pattern of the Sparse Transformer (Child et al. 2019).

    The union of its two heads: the previous ``stride`` positions, and every
    position ``j <= i`` with ``(i - j) % stride == 0``.  With
    ``stride ~ sqrt(T)`` each query sees about ``2 sqrt(T)`` keys.
    """
    T = positive_int("T", T)
    stride = positive_int("stride", stride)
    i = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    d = i - j
    return (d >= 0) & ((d < stride) | (d % stride == 0))


def bigbird_mask(T: int, block: int = 64, window_blocks: int = 3, global_blocks: int = 2,
                 random_blocks: int = 3, seed: int = 0) -> np.ndarray:
    """Block-sparse BigBird pattern (Zaheer et al. 2020, ITC variant), non-causal.

    ``T`` must be a multiple of ``block``.  The first ``global_blocks`` blocks
    are global; every other query block attends ``window_blocks`` neighbouring
    blocks (odd, centred), the global blocks, and ``random_blocks`` blocks
    drawn without replacement from the rest (fewer if fewer remain).
    """
    T = positive_int("T", T)
    block = positive_int("block", block)
    window_blocks = positive_int("window_blocks", window_blocks)
    global_blocks = nonnegative_int("global_blocks", global_blocks)
    random_blocks = nonnegative_int("random_blocks", random_blocks)
    if window_blocks % 2 == 0:
        raise ValueError(f"window_blocks must be odd (centred on the query block), got {window_blocks}")
    if T % block:
        raise ValueError(f"T ({T}) must be a multiple of block ({block})")
    nb = T // block
    if global_blocks > nb:
        raise ValueError(f"global_blocks ({global_blocks}) exceeds the number of blocks ({nb})")
    rng = np.random.default_rng(seed)
    half = window_blocks // 2
    blocks = np.zeros((nb, nb), dtype=bool)
    blocks[:global_blocks, :] = True
    blocks[:, :global_blocks] = True
    for r in range(global_blocks, nb):
        blocks[r, max(0, r - half):min(nb, r + half + 1)] = True
        free = np.flatnonzero(~blocks[r])
        if free.size and random_blocks:
            blocks[r, rng.choice(free, size=min(random_blocks, free.size), replace=False)] = True
    return np.kron(blocks, np.ones((block, block), dtype=bool)).astype(bool)

"""Audio to encoder positions, computed the way Whisper computes them (openai/whisper ``audio.py``, ``model.py``).

* :func:`stft_frames` frames a waveform like Whisper's STFT: a 400-sample
  (25 ms) Hann window every 160 samples (10 ms), centred with reflect
  padding, and the last frame dropped, so ``n`` samples give ``n // 160``
  frames (480,000 samples = 30 s at 16 kHz -> 3,000 frames).
* :func:`log_spectrogram` turns the frames into a log power spectrogram
  (Whisper then maps the 201 frequency bins to 80 mel bands; the frame count,
  which is what the token budget depends on, is the same).
* :func:`encoder_positions` runs two 1-D convolutions shaped like Whisper's
  encoder stem (kernel 3, padding 1, strides 1 and 2) over the frames and
  returns the number of positions that come out: half the frames.
"""
from __future__ import annotations

import numpy as np
import torch

from ..validation import positive_int

__all__ = ["stft_frames", "log_spectrogram", "encoder_positions", "chirp"]


def _signal(signal) -> np.ndarray:
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"signal must be a 1-D array of at least 2 samples, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("signal has NaN or infinite values")
    return x


def stft_frames(signal, n_fft: int = 400, hop: int = 160) -> np.ndarray:
    """``(n_frames, n_fft)`` windowed frames of a 1-D ``signal`` (centred, reflect-padded, last frame dropped)."""
    x = _signal(signal)
    n_fft, hop = positive_int("n_fft", n_fft), positive_int("hop", hop)
    if x.size <= n_fft // 2:
        raise ValueError(f"signal must be longer than n_fft // 2 = {n_fft // 2} samples for reflect padding")
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]      # 1 + len // hop frames
    return frames[:-1] * np.hanning(n_fft + 1)[:-1]                                # periodic Hann, as torch.stft


def log_spectrogram(signal, n_fft: int = 400, hop: int = 160) -> np.ndarray:
    """``(n_fft // 2 + 1, n_frames)`` log10 power spectrogram, floored 8 orders below its peak as Whisper does."""
    power = np.abs(np.fft.rfft(stft_frames(signal, n_fft, hop), axis=1)) ** 2
    logp = np.log10(np.maximum(power, 1e-10))
    return np.maximum(logp, logp.max() - 8.0).T


@torch.no_grad()
def encoder_positions(n_frames: int, n_mels: int = 80, width: int = 8) -> int:
    """Positions out of a Whisper-shaped convolution stem for ``n_frames`` input frames (a real forward pass).

    ``Conv1d(n_mels, width, 3, padding=1)`` then ``Conv1d(width, width, 3, stride=2, padding=1)``: the output
    length is ``floor((n_frames + 2 - 3) / 2) + 1 = ceil(n_frames / 2)``.
    """
    n_frames, n_mels, width = positive_int("n_frames", n_frames), positive_int("n_mels", n_mels), positive_int("width", width)
    x = torch.zeros(1, n_mels, n_frames)
    conv1 = torch.nn.Conv1d(n_mels, width, 3, padding=1)
    conv2 = torch.nn.Conv1d(width, width, 3, stride=2, padding=1)
    return int(conv2(torch.nn.functional.gelu(conv1(x))).shape[-1])


def chirp(seconds: float = 3.0, sample_rate: int = 16_000, f0: float = 200.0, f1: float = 4000.0) -> np.ndarray:
    """A synthetic test signal: a linear frequency sweep from ``f0`` to ``f1`` Hz, ``(seconds * sample_rate,)``."""
    sample_rate = positive_int("sample_rate", sample_rate)
    if not (seconds > 0 and 0 < f0 < sample_rate / 2 and 0 < f1 <= sample_rate / 2):
        raise ValueError("seconds must be positive and f0, f1 between 0 and the Nyquist frequency")
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds)))

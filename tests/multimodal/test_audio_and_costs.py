"""Whisper-style framing against torch.stft, the convolution stem's positions, and the decoder cost of visual tokens."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier import hardware
from frontier.architecture.params import LLAMA2_7B, forward_flops_per_token
from frontier.multimodal import audio, budgets
from frontier.multimodal.costs import prompt_cost

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_frames_match_torch_stft():
    x = np.random.default_rng(0).standard_normal(16_000)
    ours = np.abs(np.fft.rfft(audio.stft_frames(x), axis=1)) ** 2
    ref = torch.stft(torch.tensor(x), 400, 160, window=torch.hann_window(400, dtype=torch.float64),
                     return_complex=True).abs() ** 2
    assert np.allclose(ours, ref[:, :-1].numpy().T)          # Whisper drops the last frame


def test_thirty_seconds_give_3000_frames_and_1500_positions():
    x = np.zeros(30 * 16_000)
    assert audio.stft_frames(x).shape == (3000, 400)
    assert audio.log_spectrogram(audio.chirp(1.0)).shape == (201, 100)
    assert audio.encoder_positions(3000) == 1500 == budgets.whisper_tokens(30)
    assert audio.encoder_positions(3001) == budgets.audio_tokens(30.01, window_s=0)


def test_audio_bad_input():
    with pytest.raises(ValueError):
        audio.stft_frames(np.zeros((2, 100)))
    with pytest.raises(ValueError):
        audio.stft_frames(np.zeros(100))                       # shorter than n_fft // 2
    with pytest.raises(ValueError):
        audio.chirp(1.0, f1=9000.0)


def test_prompt_cost_sums_per_token_costs():
    c = prompt_cost(LLAMA2_7B, 40, 576)
    T = 616
    assert c["tokens"] == T and c["visual_share"] == pytest.approx(576 / T)
    assert c["prefill_flops"] == pytest.approx(sum(forward_flops_per_token(LLAMA2_7B, t) for t in range(1, T + 1)))
    assert c["kv_bytes"] == hardware.kv_cache_bytes_per_token(32, 32, 128) * T == 524_288 * T
    assert prompt_cost(LLAMA2_7B, 40, 2880)["prefill_seconds"] > c["prefill_seconds"]
    with pytest.raises(ValueError):
        prompt_cost(LLAMA2_7B, 0, 0)
    with pytest.raises(TypeError):
        prompt_cost("llama", 1, 1)

"""Section 3, multimodal models: images become tokens, contrastive alignment, a decoder that reads both,
token budgets for audio and video, structured data, and images generated as tokens.

* :mod:`frontier.multimodal.patches`     :func:`patchify` / :func:`unpatchify` (channels and padding explicit)
* :mod:`frontier.multimodal.budgets`     visual, audio and video token counts of published encoders
  (CLIP/LLaVA 256/576, 672 px 2,304, LLaVA-NeXT 2,880, Qwen2-VL's dynamic resolution, Whisper 1,500 per 30 s)
* :mod:`frontier.multimodal.contrastive` CLIP's symmetric InfoNCE, recall@k, zero-shot accuracy
* :mod:`frontier.multimodal.digits`      scikit-learn digits with captions (held-out templates and
  attribute combinations), scikit-image's bundled photographs
* :mod:`frontier.multimodal.clip`        a tiny CLIP (CNN image encoder + TinyLM text encoder)
* :mod:`frontier.multimodal.vlm`         a tiny vision-language model (frozen CLIP features -> projector -> TinyLM)
* :mod:`frontier.multimodal.codebook`    a k-means patch codebook and a TinyLM that generates digits as tokens
* :mod:`frontier.multimodal.structured`  tables serialised three ways and their token cost; sinusoidal geo features
* :mod:`frontier.multimodal.audio`       Whisper-style framing (STFT, hop 160) and the stride-2 convolution stem
* :mod:`frontier.multimodal.costs`       KV cache and prefill time of visual tokens in a decoder (section 1's cost model)
* :mod:`frontier.multimodal.hf_clip`     optional: a published CLIP behind the tiny CLIP's interface (import explicitly)

Everything runs offline on a laptop CPU; the data ship inside scikit-learn and scikit-image
(``pip install -e ".[multimodal]"``).  Figures and widgets: :mod:`frontier.viz.multimodal`.
"""
from .budgets import (
    anyres_tokens, audio_frames, audio_tokens, encoder_tokens, llava15_tokens, qwen2vl_tokens, seconds_that_fit,
    select_best_resolution, smart_resize, video_tokens, vit_tokens, whisper_tokens,
)
from .contrastive import CLIP_INIT_LOGIT_SCALE, clip_logits, info_nce, recall_at_k, zero_shot_accuracy
from .patches import as_image, pad_to_multiple, patch_grid, patchify, unpatchify
from .structured import TABLE_FORMATS, geo_features, haversine_km, serialization_costs, serialize_table

__all__ = [
    "patchify", "unpatchify", "patch_grid", "pad_to_multiple", "as_image",
    "vit_tokens", "llava15_tokens", "anyres_tokens", "select_best_resolution", "smart_resize", "qwen2vl_tokens",
    "audio_frames", "audio_tokens", "whisper_tokens", "video_tokens", "seconds_that_fit", "encoder_tokens",
    "info_nce", "clip_logits", "recall_at_k", "zero_shot_accuracy", "CLIP_INIT_LOGIT_SCALE",
    "serialize_table", "serialization_costs", "TABLE_FORMATS", "geo_features", "haversine_km",
]

"""The shared language-model toolkit: one interface, small models, sampling, scoring, training, caching.

Every section that samples from, scores, trains or edits a language model
uses this package, and this package imports no section.  Shapes and symbols
follow the course glossary (``docs/glossary.md``).

The interface
* :mod:`frontier.models.protocol`    :class:`LanguageModel` (``forward``, ``embed``, ``new_cache``, ``config``,
  ``max_seq_len``, ``n_parameters``, ``weight_matrices``), :class:`ModelOutput` (alias ``LMOutput``),
  :class:`KVCache` and :class:`RecurrentCache` (step, copy, truncate)
* :mod:`frontier.models.layers`      building blocks: RMSNorm, SwiGLU, RoPE, masks (causal, window, sinks),
  the MoE layer, the differentiable selective scan (section 1 teaches them and re-exports them)

Models
* :mod:`frontier.models.tiny_lm`     a tiny decoder-only transformer: RoPE, grouped-query attention, optional MoE
  feed-forward, any attention mask, a KV cache
* :mod:`frontier.models.tiny_ssm`    a tiny Mamba-style model whose cache is its recurrent state
* :mod:`frontier.models.hf`          an optional adapter that wraps a Hugging Face causal LM in the same
  interface (``pip install -e ".[hf]"``; import it explicitly)

Using a model
* :mod:`frontier.models.generate`    :func:`generate` (greedy, temperature, top-k, top-p, stop token, cached or
  recomputed decoding), :func:`sample_next`, :func:`filter_logits`
* :mod:`frontier.models.logprobs`    :func:`token_logprobs`, :func:`sequence_logprobs`

Data, training, storage
* :mod:`frontier.models.tokenizer`   :class:`Tokenizer` (characters, words, byte-pair) with special tokens
* :mod:`frontier.models.tasks`       the task shape ``task.sample(batch, rng) -> Batch(tokens, target_mask, meta)``
* :mod:`frontier.models.data`        synthetic token streams (mixtures of Markov sources, a recall task)
* :mod:`frontier.models.sequence_tasks`  selective copying and multi-query associative recall
* :mod:`frontier.models.training`    :func:`train` with any loss, :func:`train_lm` for next-token prediction
* :mod:`frontier.models.io`          :func:`save` / :func:`load`
* :mod:`frontier.models.cache`       :func:`cached`, the trained-model cache

Everything is sized to train in seconds on a laptop CPU.
"""
from .cache import cached
from .generate import filter_logits, generate, sample_next
from .io import load, save
from .logprobs import sequence_logprobs, token_logprobs
from .protocol import KVCache, LanguageModel, LMOutput, ModelOutput, RecurrentCache
from .tasks import Batch, Task
from .tiny_lm import TinyLM, TinyLMConfig, next_token_loss
from .tiny_ssm import TinySSM, TinySSMConfig
from .tokenizer import Tokenizer
from .training import TrainLog, train, train_lm
from .cache import cache_dir, clear_cache
from .tasks import next_token_loss_fn

__all__ = [
    "LanguageModel", "ModelOutput", "LMOutput", "KVCache", "RecurrentCache",
    "TinyLM", "TinyLMConfig", "TinySSM", "TinySSMConfig", "next_token_loss",
    "generate", "sample_next", "filter_logits", "token_logprobs", "sequence_logprobs",
    "Tokenizer", "Batch", "Task", "train", "train_lm", "TrainLog", "save", "load", "cached", "cache_dir", "clear_cache", "next_token_loss_fn",
]

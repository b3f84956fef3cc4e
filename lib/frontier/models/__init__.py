"""Small models, synthetic data and a training loop shared by the lessons.

* :mod:`frontier.models.data`     synthetic token streams (mixtures of Markov sources)
* :mod:`frontier.models.tiny_lm`  a tiny decoder-only transformer: RoPE, optional MoE feed-forward, any attention mask
* :mod:`frontier.models.train`    a training loop with a progress bar and a per-step record

Everything is sized to train in seconds on a laptop CPU.
"""

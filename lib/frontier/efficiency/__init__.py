"""Section 5, efficiency and deployment: compute-optimal training, distillation, speculative decoding,
quantization, merging and parameter-efficient fine-tuning.

* :mod:`frontier.efficiency.scaling`       the Chinchilla loss fit (Hoffmann, Epoch), the compute-optimal
  frontier, iso-FLOP curves, our own fit with bootstrap intervals (lesson 5.1)
* :mod:`frontier.efficiency.distillation`  soft-label distillation, held-out evaluation, FLOPs per token (lesson 5.1)
* :mod:`frontier.efficiency.speculative`   exact speculative sampling, its formulas, tree speculation, early exit
  (lesson 5.2)
* :mod:`frontier.efficiency.quantization`  absmax int8, group-wise int4, NF4, GGUF Q4_0 (lesson 5.2)
* :mod:`frontier.efficiency.merging`       task arithmetic, TIES, DARE, SLERP (lesson 5.2)
* :mod:`frontier.efficiency.lora`          LoRA / rsLoRA, merging and composing adapters, prompt and prefix
  tuning (lesson 5.3)
* :mod:`frontier.efficiency.experiments`   the trained models the three lessons share (through the model cache)
"""

"""Section 1, architectural innovation.

* :mod:`frontier.architecture.costs`         cost models (FLOPs, memory, traffic) of attention variants, SSMs and hybrids
* :mod:`frontier.architecture.masks`         the attention patterns those cost models count, as boolean masks
* :mod:`frontier.architecture.params`        parameter counts, FLOPs per token and memory of transformer configs
* :mod:`frontier.architecture.attention`     attention implementations: naive, sliding window, tiled (FlashAttention's
  online softmax, with counted traffic), Performer random features
* :mod:`frontier.architecture.ssm`           the selective scan (reference, fast, parallel) and discretisation
* :mod:`frontier.architecture.moe`           routing, capacity, balancing losses and an MoE layer
* :mod:`frontier.architecture.hybrid`        a tiny hybrid language model: Mamba blocks and attention blocks
* :mod:`frontier.architecture.long_context`  RoPE and its scaling (PI, NTK, YaRN), KV-cache sizes, StreamingLLM, ring attention
"""

"""Section 1, architectural innovation.

* :mod:`frontier.architecture.costs`      cost models (FLOPs, memory, traffic) of attention variants, SSMs and hybrids
* :mod:`frontier.architecture.masks`      the attention patterns those cost models count, as boolean masks
* :mod:`frontier.architecture.params`     parameter counts, FLOPs per token and memory of transformer configs
* :mod:`frontier.architecture.attention`  attention implementations (naive, sliding window, ...)
"""

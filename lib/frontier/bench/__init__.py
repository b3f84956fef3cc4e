"""Benchmark commands.  Speed targets are measured here, never in tests.

Usage::

    python -m frontier.bench --list
    python -m frontier.bench viz [--smoke]     # re-render time of every interactive controller
    python -m frontier.bench ssm [--smoke]     # selective scan and attention, CPU and GPU
    python -m frontier.bench kernels --static  # the CUDA kernels' registers, spills and ceilings (nvcc, no GPU)
    python -m frontier.bench generate [--smoke]  # decoding with and without the KV cache
    python -m frontier.bench serving [--smoke]   # speculative decoding and quantized matmuls (section 5)

Each benchmark is a module ``frontier.bench.<name>`` with a ``main(argv)``
function that prints its table, ratios side by side in one run, and returns
an exit code.
"""
BENCHMARKS = {
    "viz": "frontier.bench.viz",
    "ssm": "frontier.bench.ssm",
    "kernels": "frontier.bench.kernels",
    "generate": "frontier.bench.generate",
    "serving": "frontier.bench.serving",
}

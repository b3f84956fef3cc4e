"""frontier: the library behind the LLM Frontiers course.

Subpackages mirror the course sections:

* :mod:`frontier.architecture`  section 1: attention cost, efficient attention, SSMs, MoE, long context
* :mod:`frontier.reasoning`     section 2: test-time compute, search, tools and agents
* :mod:`frontier.multimodal`    section 3: vision-language models and token budgets
* :mod:`frontier.alignment`     section 4: preference optimisation, oversight, robustness
* :mod:`frontier.efficiency`    section 5: compute-optimal training, speculative decoding, quantization, merging
* :mod:`frontier.knowledge`     section 6: RAG, hallucination, calibration, editing and memory
* :mod:`frontier.society`       section 7: energy, emissions, regulation, work
* :mod:`frontier.finance`       section 8: financial applications

and the shared tools:

* :mod:`frontier.env`        what this machine has (CPU or GPU, CuPy, versions); ``torch_threads``
* :mod:`frontier.hardware`   accelerators and number formats; will it fit, decode and prefill time bounds
* :mod:`frontier.validation` input checks and ``rng(seed)``, the one way to take a seed
* :mod:`frontier.data`, :mod:`frontier.retrieval`, :mod:`frontier.agents`  shared corpus, search and agent tools
  for sections 2, 6 and 8
* :mod:`frontier.kernels`    the one place that picks a compute backend (CuPy kernels on a GPU, NumPy/numba on a CPU)
* :mod:`frontier.models`     tiny transformer and SSM language models, synthetic data, a training loop
* :mod:`frontier.timing`     warm-up, repeats, medians, GPU synchronisation, log-log fits
* :mod:`frontier.viz`        figure builders and the interactive-figure controller
* :mod:`frontier.checks`     self-checks for learners (a pass, or a hint)
* :mod:`frontier.grading`    the TA's nbgrader workflow (``python -m frontier.grading --help``)
* :mod:`frontier.exercises`  assignment support: cases, the delegation guard, frozen expected values
* :mod:`frontier.notebooks`  run notebooks with papermill, clean them, check their hygiene
* :mod:`frontier.bench`      benchmark commands (``python -m frontier.bench --help``)

Computation never imports plotly or ipywidgets; only :mod:`frontier.viz` does.  Shared modules import no
section, and a section imports only earlier ones (``tests/test_layering.py``).

Shapes and symbols (``d_model``, ``head_dim``, ``d_inner``, ``n_layers``, ``T``, ...) mean the same thing
everywhere: see the course glossary, ``docs/glossary.md``.
"""
__version__ = "0.1.0"

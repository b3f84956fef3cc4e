"""Figures for section 6, knowledge: retrieval explorer, hallucination against k, reliability diagram with a
temperature slider, the editing explorer, and the vector index's recall against latency."""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..data import generate_corpus
from ..knowledge import calibration as cal
from ..knowledge.editing import interference, make_linear_memory, rank_one_edit
from ..knowledge.qa import build_qa
from ..retrieval import chunk_documents, make_retriever, relevant_chunks
from ..validation import choice, positive_int
from .controller import InteractiveFigure, checkbox, dropdown, register, slider
from .theme import COLORS, apply_theme

__all__ = ["make_retrieval_figure", "retrieval_explorer", "make_hallucination_vs_k_figure",
           "hallucination_vs_k_plot", "make_reliability_figure", "reliability_explorer", "make_editing_figure",
           "editing_explorer", "make_index_figure", "index_explorer", "demo_calibration_data",
           "make_paraphrase_edit_figure", "make_score_comparison_figure"]


# -- retrieval explorer ----------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _world(seed: int):
    corpus = generate_corpus(6, 4, seed=seed, trading_days=False)
    return corpus, build_qa(corpus, seed=seed)


@lru_cache(maxsize=32)
def _index(seed: int, method: str, size: int, overlap: int, retriever: str, rerank: bool):
    corpus, _ = _world(seed)
    chunks = chunk_documents(corpus.documents, method, size, overlap)
    return chunks, make_retriever(retriever, chunks, rerank=rerank, dim=64, seed=seed)


def make_retrieval_figure(question: int = 0, retriever: str = "bm25", method: str = "sentence", size: int = 1,
                          overlap: int = 0, k: int = 5, rerank: bool = False, seed: int = 0) -> go.Figure:
    """The top-``k`` chunks for one question of the demo corpus, scores as bars, the chunk that states the answer
    in green (hover for the text)."""
    k = positive_int("k", k)
    corpus, items = _world(seed)
    it = items[int(question) % len(items)]
    chunks, r = _index(seed, method, int(size), int(overlap), retriever, bool(rerank))
    hits = r.search(it.question, k)
    rel = set(relevant_chunks(chunks, it.doc_id, it.spans))
    colors = [COLORS[2] if h.index in rel else COLORS[0] for h in hits]
    labels = [f"#{h.rank + 1} {chunks[h.index].doc_id}" for h in hits]
    text = [h.text[:160] + ("…" if len(h.text) > 160 else "") for h in hits]
    fig = go.Figure(go.Bar(x=[h.score for h in hits], y=labels, orientation="h", marker_color=colors,
                           hovertext=text, hoverinfo="text+x"))
    fig.update_yaxes(autorange="reversed")
    found = next((h.rank + 1 for h in hits if h.index in rel), None)
    title = (f"{it.question} (answer {it.answer:,}): "
             + (f"answer's chunk at rank {found}" if found else f"answer's chunk not in the top {k}"))
    apply_theme(fig, title, {"question": it.question, "found_rank": found, "n_chunks": len(chunks),
                             "retriever": r.name, "hits": [h.index for h in hits]}, height=380)
    fig.update_layout(xaxis_title="score", yaxis_title="chunk")
    return fig


@register("knowledge_retrieval_explorer")
def retrieval_explorer(**fixed) -> InteractiveFigure:
    """Question, retriever, chunking and k -> the retrieved chunks and where the answer's chunk ranks."""
    controls = {
        "question": slider(0, 0, 95, 1, "question #"),
        "retriever": dropdown(["bm25", "dense", "hybrid"], "bm25", "retriever"),
        "method": dropdown(["sentence", "fixed", "section"], "sentence", "chunking"),
        "size": dropdown([1, 2, 3, 16, 32, 64, 128], 1, "size (sentences or tokens)"),
        "overlap": dropdown([0, 1, 8], 0, "overlap"),
        "k": slider(5, 1, 10, 1, "k"),
        "rerank": checkbox(False, "rerank"),
    }
    return InteractiveFigure(_safe_retrieval, controls, fixed=fixed, name="knowledge_retrieval_explorer")


def _safe_retrieval(**p) -> go.Figure:
    size, overlap = int(p.get("size", 1)), int(p.get("overlap", 0))
    if overlap >= size and p.get("method", "sentence") != "section":
        overlap = 0                                         # an impossible pair of knobs: drop the overlap
    return make_retrieval_figure(**{**p, "overlap": overlap})


# -- hallucination against k -----------------------------------------------------------------------------------
def make_hallucination_vs_k_figure(table: Mapping[str, Mapping[int, Mapping[str, float]]],
                                   metric: str = "hallucination_rate") -> go.Figure:
    """One line per retriever: ``table[retriever][k][metric]`` against k, with Wilson intervals when present
    (``metric + "_ci"``); ``metric`` one of hallucination_rate, accuracy, abstention_rate, recall."""
    choice("metric", metric, ("hallucination_rate", "accuracy", "abstention_rate", "recall"))
    fig = go.Figure()
    for i, (name, by_k) in enumerate(table.items()):
        ks = sorted(by_k)
        y = [by_k[k][metric] for k in ks]
        ci_key = {"hallucination_rate": "hallucination_ci", "accuracy": "accuracy_ci",
                  "abstention_rate": "abstention_ci"}.get(metric)
        err = None
        if ci_key and all(ci_key in by_k[k] for k in ks):
            lo = [by_k[k][ci_key][0] for k in ks]
            hi = [by_k[k][ci_key][1] for k in ks]
            err = dict(type="data", symmetric=False, array=np.subtract(hi, y), arrayminus=np.subtract(y, lo))
        fig.add_trace(go.Scatter(x=ks, y=y, mode="lines+markers", name=name, error_y=err,
                                 line=dict(color=COLORS[i % len(COLORS)])))
    apply_theme(fig, f"{metric.replace('_', ' ')} against the number of retrieved chunks k",
                {"metric": metric, "retrievers": list(table)}, height=380)
    fig.update_layout(xaxis_title="k (chunks retrieved)", yaxis_title=metric.replace("_", " "), yaxis_range=[0, 1])
    return fig


_DEMO_TABLE = {"bm25": {1: {"hallucination_rate": 0.3, "accuracy": 0.4, "abstention_rate": 0.3, "recall": 0.3},
                        5: {"hallucination_rate": 0.35, "accuracy": 0.5, "abstention_rate": 0.2, "recall": 0.6}}}


@register("knowledge_hallucination_vs_k")
def hallucination_vs_k_plot(table: Optional[Mapping] = None, **fixed) -> InteractiveFigure:
    """The hallucination-vs-k plot for a measured ``table`` (a placeholder table labelled as such by default)."""
    controls = {"metric": dropdown(["hallucination_rate", "accuracy", "abstention_rate", "recall"],
                                   "hallucination_rate", "metric")}
    return InteractiveFigure(make_hallucination_vs_k_figure, controls,
                             fixed={"table": table or _DEMO_TABLE, **fixed}, name="knowledge_hallucination_vs_k")


# -- reliability diagram with a temperature slider -------------------------------------------------------------
def demo_calibration_data(n: int = 2000, n_classes: int = 5, overconfidence: float = 3.0, seed: int = 0):
    """An overconfident synthetic classifier: ``(logits (n, C), labels (n,))``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(n_classes, size=n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), labels] += 1.2
    return logits * overconfidence, labels


@lru_cache(maxsize=2)
def _demo_cal():
    return demo_calibration_data()


def make_reliability_figure(confidences_fn=None, correct: Optional[np.ndarray] = None, temperature: float = 1.0,
                            n_bins: int = 15) -> go.Figure:
    """Reliability diagram at ``temperature``: bars of accuracy per confidence bin against the diagonal, with ECE,
    NLL and Brier in the title.  ``confidences_fn(T) -> (N,)`` gives the confidences at temperature T (default: the
    demo classifier's max softmax probability)."""
    if confidences_fn is None:
        logits, labels = _demo_cal()
        correct = logits.argmax(1) == labels
        confidences_fn = lambda t: cal.softmax(logits, t).max(1)          # noqa: E731
    conf = np.asarray(confidences_fn(float(temperature)))
    curve = cal.reliability_curve(conf, correct, n_bins)
    centres = (curve["edges"][:-1] + curve["edges"][1:]) / 2
    ok = curve["count"] > 0
    ece, nll, brier = (cal.expected_calibration_error(conf, correct, n_bins), cal.nll(conf, correct),
                       cal.brier_score(conf, correct))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=centres[ok], y=curve["accuracy"][ok], width=1 / n_bins, name="accuracy in bin",
                         marker_color=COLORS[0], customdata=curve["count"][ok],
                         hovertemplate="conf %{x:.2f}: acc %{y:.2f} (n=%{customdata})<extra></extra>"))
    fig.add_trace(go.Scatter(x=centres[ok], y=curve["confidence"][ok], mode="markers", name="mean confidence",
                             marker=dict(color=COLORS[3])))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(dash="dash", color="gray")))
    apply_theme(fig, f"T = {temperature:.2f}: ECE {ece:.3f}, NLL {nll:.3f}, Brier {brier:.3f}",
                {"temperature": float(temperature), "ece": ece, "nll": nll, "brier": brier}, height=400)
    fig.update_layout(xaxis_title="confidence", yaxis_title="accuracy", xaxis_range=[0, 1], yaxis_range=[0, 1])
    return fig


@register("knowledge_reliability_explorer")
def reliability_explorer(**fixed) -> InteractiveFigure:
    """A reliability diagram with a temperature slider (pass ``confidences_fn`` and ``correct`` for real data)."""
    controls = {"temperature": slider(1.0, 0.25, 6.0, 0.05, "temperature T")}
    return InteractiveFigure(make_reliability_figure, controls, fixed=fixed, name="knowledge_reliability_explorer")


# -- editing explorer --------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _memory(seed: int):
    return make_linear_memory(n_keys=24, d_k=32, d_v=16, correlation=0.8, seed=seed)


def make_editing_figure(key: int = 0, use_covariance: bool = True, strength: float = 3.0, seed: int = 0) -> go.Figure:
    """Edit one stored key of a linear associative memory to a new random value and show how far every stored
    key's output moved (relative change), with or without the key covariance C⁻¹."""
    mem = _memory(seed)
    key = int(key) % len(mem.keys)
    v_star = np.random.default_rng([seed, key]).normal(size=mem.values.shape[1]) * strength
    W = rank_one_edit(mem.W, mem.keys[key], v_star, mem.covariance if use_covariance else None)
    change = [interference(mem.W, W, mem.keys[i:i + 1]) for i in range(len(mem.keys))]
    others = float(np.mean([c for i, c in enumerate(change) if i != key]))
    fig = go.Figure(go.Bar(x=list(range(len(change))), y=change,
                           marker_color=[COLORS[3] if i == key else COLORS[0] for i in range(len(change))]))
    apply_theme(fig, f"edit key {key} {'with' if use_covariance else 'without'} C⁻¹: other keys moved "
                     f"{others:.1%} on average", {"key": key, "use_covariance": bool(use_covariance),
                                                  "mean_other_change": others}, height=360)
    fig.update_layout(xaxis_title="stored key", yaxis_title="relative change of its output")
    return fig


@register("knowledge_editing_explorer")
def editing_explorer(**fixed) -> InteractiveFigure:
    """Pick a stored fact (key), edit it, see which other outputs moved."""
    controls = {"key": slider(0, 0, 23, 1, "key to edit"), "use_covariance": checkbox(True, "use C⁻¹"),
                "strength": slider(3.0, 0.5, 10.0, 0.5, "size of the new value")}
    return InteractiveFigure(make_editing_figure, controls, fixed=fixed, name="knowledge_editing_explorer")


# -- index recall and latency ------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _built(sizes: tuple, seed: int):
    """Data, queries, exact neighbours and timings, and one HNSW index per size (efSearch is set per search)."""
    import time as _time
    from ..knowledge.memory import make_index
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(100, 32)).astype(np.float32)

    def draw(n):
        x = centres[rng.integers(100, size=n)] + 0.35 * rng.normal(size=(n, 32)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    data, queries = draw(max(sizes)), draw(100)
    out = []
    from ..knowledge.memory import one_faiss_thread
    with one_faiss_thread():
        for n in sizes:
            flat = make_index(32, "flat")
            flat.add(data[:n])
            t = _time.perf_counter()
            _, exact = flat.search(queries, 10)
            exact_s = (_time.perf_counter() - t) / len(queries)
            hnsw = make_index(32, "hnsw")
            hnsw.add(data[:n])
            out.append((n, exact, exact_s, hnsw))
    return queries, out


def _search(hnsw, queries, ef_search: int):
    import time as _time
    hnsw.hnsw.efSearch = int(ef_search)
    t = _time.perf_counter()
    _, approx = hnsw.search(queries, 10)
    return approx, (_time.perf_counter() - t) / len(queries)


def _bench(sizes: tuple, ef_search: int, seed: int):
    """Recall@10 and µs per query of HNSW at ``ef_search`` against exact search (indexes built once per size)."""
    from ..knowledge.memory import one_faiss_thread
    queries, built = _built(sizes, seed)
    res = {"size": [], "recall": [], "exact_s": [], "hnsw_s": []}
    with one_faiss_thread():
        rows = [(n, exact, exact_s, hnsw, *_search(hnsw, queries, ef_search)) for n, exact, exact_s, hnsw in built]
    for n, exact, exact_s, hnsw, approx, secs in rows:
        res["hnsw_s"].append(secs)
        res["recall"].append(float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)])))
        res["exact_s"].append(exact_s)
        res["size"].append(n)
    return {k: np.array(v) for k, v in res.items()}


def make_index_figure(bench: Optional[Mapping[str, np.ndarray]] = None, ef_search: int = 32,
                      sizes: Sequence[int] = (1000, 4000), seed: int = 0) -> go.Figure:
    """HNSW recall@10 against exact search (left axis) and microseconds per query of both (right axis) against
    the index size, from ``bench`` (:func:`frontier.knowledge.memory.index_benchmark`) or measured now."""
    b = bench if bench is not None else _bench(tuple(int(s) for s in sizes), int(ef_search), seed)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=b["size"], y=b["recall"], name="HNSW recall@10", mode="lines+markers",
                             line=dict(color=COLORS[2])))
    fig.add_trace(go.Scatter(x=b["size"], y=np.asarray(b["exact_s"]) * 1e6, name="exact µs/query", yaxis="y2",
                             mode="lines+markers", line=dict(color=COLORS[0], dash="dot")))
    fig.add_trace(go.Scatter(x=b["size"], y=np.asarray(b["hnsw_s"]) * 1e6, name="HNSW µs/query", yaxis="y2",
                             mode="lines+markers", line=dict(color=COLORS[3], dash="dot")))
    apply_theme(fig, f"HNSW against exact search (efSearch = {ef_search}), measured on this machine",
                {"ef_search": int(ef_search), "recall": [float(x) for x in b["recall"]]}, height=400,
                legend_below=-0.25)
    fig.update_layout(xaxis=dict(title="vectors in the index", type="log"),
                      yaxis=dict(title="recall@10", range=[0, 1.05]),
                      yaxis2=dict(title="µs per query", overlaying="y", side="right", type="log"))
    return fig


@register("knowledge_index_explorer")
def index_explorer(**fixed) -> InteractiveFigure:
    """Recall and latency of HNSW against exact search as efSearch changes (measured, cached per setting)."""
    controls = {"ef_search": dropdown([8, 16, 32, 64, 128], 32, "efSearch")}
    return InteractiveFigure(make_index_figure, controls, fixed=fixed, name="knowledge_index_explorer")


# -- an edit in the trained reader, asked in every phrasing ---------------------------------------------------------
def make_paraphrase_edit_figure(success: Mapping[str, Sequence[float]],
                                kept: Optional[Mapping[str, Mapping[str, float]]] = None,
                                held_out: Sequence[int] = ()) -> go.Figure:
    """A table as a heatmap: one row per edit setting, the share of edited facts that give the new figure in each
    phrasing (``success[row]`` ``(n_phrasings,)``), then the shares of other facts still right (``kept[row]``,
    e.g. ``{"same company": 0.9, "other companies": 1.0}``).  Phrasings in ``held_out`` are marked."""
    rows = list(success)
    if not rows:
        raise ValueError("success must have at least one row")
    n = len(np.asarray(success[rows[0]]))
    cols = [f"phrasing {t}" + (" (held out)" if t in set(held_out) else "") for t in range(n)]
    extra = list(next(iter(kept.values()))) if kept else []
    z = [list(np.asarray(success[r], dtype=float)) + [float(kept[r][e]) for e in extra] for r in rows]
    cols += [f"{e}: still right" for e in extra]
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=rows, zmin=0, zmax=1, colorscale="Blues", showscale=False,
                               text=[[f"{v:.2f}" for v in row] for row in z], texttemplate="%{text}",
                               hovertemplate="%{y}<br>%{x}: %{z:.2f}<extra></extra>"))
    apply_theme(fig, "Edit success per phrasing, and the other facts it left alone",
                {"rows": rows, "held_out": [int(t) for t in held_out]}, height=120 + 45 * len(rows))
    fig.update_layout(yaxis=dict(autorange="reversed"))
    return fig


# -- confidence scores compared: answer probability, P(IK), P(True) -------------------------------------------------
def make_score_comparison_figure(scores: Mapping[str, Sequence[float]], correct: Sequence[bool],
                                 n_bins: int = 10) -> go.Figure:
    """Two panels for confidence scores of the same answers (``scores[name]`` ``(N,)`` in [0, 1], ``correct``
    ``(N,)``): a reliability curve per score (accuracy against mean confidence in ``n_bins`` equal-width bins,
    empty bins skipped) and selective prediction (accuracy of the answers kept against the share kept, most
    confident first).  AUROC and ECE of each score go in the legend."""
    from plotly.subplots import make_subplots
    y = np.asarray(correct, dtype=float)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("reliability", "selective prediction"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="gray"),
                             name="perfect calibration"), row=1, col=1)
    meta = {}
    for i, (name, s) in enumerate(scores.items()):
        s = np.asarray(s, dtype=float)
        auroc = cal.auroc(s, y)
        ece = cal.expected_calibration_error(s, y, n_bins)
        meta[name] = {"auroc": auroc, "ece": ece}
        curve = cal.reliability_curve(s, y, n_bins)
        ok = curve["count"] > 0
        sel = cal.selective_prediction(s, y)
        color = COLORS[i % len(COLORS)]
        fig.add_trace(go.Scatter(x=curve["confidence"][ok], y=curve["accuracy"][ok], mode="lines+markers",
                                 name=f"{name} (AUROC {auroc:.2f}, ECE {ece:.2f})", line=dict(color=color),
                                 legendgroup=name), row=1, col=1)
        fig.add_trace(go.Scatter(x=sel["coverage"], y=sel["accuracy"], mode="lines", line=dict(color=color),
                                 legendgroup=name, showlegend=False), row=1, col=2)
    apply_theme(fig, f"Confidence scores on {len(y)} answers (accuracy {y.mean():.2f})", meta, height=420,
                legend_below=-0.25)
    fig.update_xaxes(title_text="confidence", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(title_text="coverage (share answered)", range=[0, 1], row=1, col=2)
    fig.update_yaxes(title_text="accuracy of the answered", range=[0, 1.05], row=1, col=2)
    return fig

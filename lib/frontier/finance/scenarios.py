"""Synthetic market scenarios: GBM, GARCH(1,1), bootstrap, a learned generator; stylised facts; VaR and ES.

Every generator returns **daily log returns in percent** as an array ``(n_paths, horizon)``; a path's
``horizon``-day return is the row sum (log returns add).  The data are the S&P 500 closes bundled with ``arch``
(``arch.data.sp500``, 1999-2018, read offline).

* :func:`sp500_returns` the historical daily log returns (percent)
* :func:`simulate_gbm` geometric Brownian motion: i.i.d. normal log returns (no fat tails, no clustering)
* :func:`fit_garch` / :func:`simulate_garch` GARCH(1,1) with normal or Student-t innovations, fitted with
  ``arch``; the simulation is written out (``sigma2_t = omega + alpha eps_{t-1}^2 + beta sigma2_{t-1}``)
* :func:`bootstrap_paths` resampled historical days (i.i.d. or in blocks, which keep some clustering)
* :class:`ReturnTokenizer`, :func:`train_return_model`, :func:`sample_learned` a small autoregressive
  :class:`~frontier.models.TinyLM` over quantised returns (the chapter's "synthetic financial data")
* :func:`stylised_facts` fat tails (excess kurtosis), volatility clustering (ACF of squared returns), no
  autocorrelation of returns (ACF and Ljung-Box from ``statsmodels``)
* :func:`value_at_risk`, :func:`expected_shortfall` and their normal closed forms
* :func:`garch_moment_check` do simulated paths reproduce the fitted unconditional variance?

Units: returns in percent per day; VaR and ES are **losses** (positive numbers, percent).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Dict, Optional

import numpy as np

from ..validation import choice, positive_float, positive_int

__all__ = ["sp500_returns", "simulate_gbm", "GarchFit", "fit_garch", "simulate_garch", "bootstrap_paths",
           "ReturnTokenizer", "ReturnModelSpec", "train_return_model", "sample_learned", "stylised_facts",
           "value_at_risk", "expected_shortfall", "normal_var", "normal_es", "horizon_returns",
           "garch_moment_check", "GENERATORS", "scenario_paths", "tail_table"]

#: Names of the scenario generators :func:`scenario_paths` knows.
GENERATORS = ("gbm", "garch", "bootstrap", "learned")


def _level(level: float) -> float:
    level = positive_float("level", level)
    if not 0.5 < level < 1.0:
        raise ValueError(f"level must lie in (0.5, 1), e.g. 0.99, got {level}")
    return level


def _paths_args(n_paths: int, horizon: int) -> tuple:
    return positive_int("n_paths", n_paths), positive_int("horizon", horizon)


def _returns_1d(name: str, returns) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 returns, got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return r


@lru_cache(maxsize=1)
def _sp500() -> np.ndarray:
    from arch.data import sp500
    close = sp500.load()["Adj Close"].to_numpy(dtype=float)
    return 100.0 * np.diff(np.log(close))


def sp500_returns() -> np.ndarray:
    """Daily S&P 500 log returns in percent, ``(5030,)``, 1999-01-05 to 2018-12-31 (``arch``'s bundled data)."""
    return _sp500().copy()


def simulate_gbm(mu: float, sigma: float, n_paths: int, horizon: int, *, seed: int = 0,
                 vol_shock: float = 1.0) -> np.ndarray:
    """Geometric Brownian motion: i.i.d. normal daily log returns ``(n_paths, horizon)`` (percent).

    ``mu`` mean and ``sigma`` standard deviation of the daily log return (percent); ``vol_shock`` multiplies
    ``sigma`` for the whole horizon (a stress scenario).
    """
    n_paths, horizon = _paths_args(n_paths, horizon)
    sigma = positive_float("sigma", sigma) * positive_float("vol_shock", vol_shock)
    if not math.isfinite(float(mu)):
        raise ValueError(f"mu must be finite, got {mu}")
    rng = np.random.default_rng(seed)
    return float(mu) + sigma * rng.standard_normal((n_paths, horizon))


@dataclass(frozen=True)
class GarchFit:
    """A fitted GARCH(1,1): ``r_t = mu + eps_t``, ``eps_t = sigma_t z_t``,
    ``sigma2_t = omega + alpha eps_{t-1}^2 + beta sigma2_{t-1}`` (percent and percent squared).

    ``dist`` is ``"normal"`` or ``"t"`` (standardised Student-t with ``nu`` degrees of freedom, unit variance);
    ``last_variance`` the fitted conditional variance of the last day; ``loglik`` the log-likelihood.
    """

    mu: float
    omega: float
    alpha: float
    beta: float
    dist: str = "normal"
    nu: Optional[float] = None
    last_variance: Optional[float] = None
    loglik: Optional[float] = None

    def __post_init__(self) -> None:
        choice("dist", self.dist, ("normal", "t"))
        positive_float("omega", self.omega)
        if self.alpha < 0 or self.beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got {self.alpha}, {self.beta}")
        if self.alpha + self.beta >= 1:
            raise ValueError(f"alpha + beta must be < 1 for a finite unconditional variance, "
                             f"got {self.alpha + self.beta}")
        if self.dist == "t" and (self.nu is None or self.nu <= 2):
            raise ValueError(f"a Student-t GARCH needs nu > 2, got {self.nu}")

    @property
    def persistence(self) -> float:
        """``alpha + beta``: how slowly a volatility shock decays (half-life ``log 0.5 / log(alpha + beta)`` days)."""
        return self.alpha + self.beta

    @property
    def unconditional_variance(self) -> float:
        """``omega / (1 - alpha - beta)`` (percent squared per day)."""
        return self.omega / (1.0 - self.alpha - self.beta)

    @property
    def half_life(self) -> float:
        """Days for a variance shock to halve."""
        return math.log(0.5) / math.log(self.persistence)

    def as_dict(self) -> Dict[str, object]:
        return asdict(self)


def fit_garch(returns=None, *, dist: str = "normal") -> GarchFit:
    """Fit GARCH(1,1) with a constant mean by maximum likelihood (``arch.arch_model``).

    ``returns`` daily returns in percent (default :func:`sp500_returns`); ``dist`` ``"normal"`` or ``"t"``.
    """
    from arch import arch_model
    choice("dist", dist, ("normal", "t"))
    r = sp500_returns() if returns is None else _returns_1d("returns", returns)
    res = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist=dist, rescale=False).fit(disp="off")
    p = res.params
    return GarchFit(float(p["mu"]), float(p["omega"]), float(p["alpha[1]"]), float(p["beta[1]"]), dist,
                    float(p["nu"]) if dist == "t" else None, float(res.conditional_volatility[-1] ** 2),
                    float(res.loglikelihood))


def _innovations(fit: GarchFit, rng: np.random.Generator, shape) -> np.ndarray:
    if fit.dist == "normal":
        return rng.standard_normal(shape)
    return rng.standard_t(fit.nu, size=shape) * math.sqrt((fit.nu - 2.0) / fit.nu)   # unit variance


def simulate_garch(fit: GarchFit, n_paths: int, horizon: int, *, seed: int = 0, vol_shock: float = 1.0,
                   start_variance: Optional[float] = None) -> np.ndarray:
    """Simulate ``(n_paths, horizon)`` daily returns (percent) from a :class:`GarchFit`.

    Each path starts at ``start_variance`` (default: the unconditional variance, so every day's expected
    variance is the unconditional one) times ``vol_shock ** 2``: a stress that then decays at the rate
    ``alpha + beta``, unlike GBM's permanent one.
    """
    if not isinstance(fit, GarchFit):
        raise TypeError(f"fit must be a GarchFit, got {type(fit).__name__}")
    n_paths, horizon = _paths_args(n_paths, horizon)
    shock = positive_float("vol_shock", vol_shock)
    s2 = fit.unconditional_variance if start_variance is None else positive_float("start_variance", start_variance)
    rng = np.random.default_rng(seed)
    z = _innovations(fit, rng, (n_paths, horizon))
    sigma2 = np.full(n_paths, s2 * shock ** 2)
    out = np.empty((n_paths, horizon))
    for t in range(horizon):
        eps = np.sqrt(sigma2) * z[:, t]
        out[:, t] = fit.mu + eps
        sigma2 = fit.omega + fit.alpha * eps ** 2 + fit.beta * sigma2
    return out


def bootstrap_paths(returns, n_paths: int, horizon: int, *, block: int = 1, seed: int = 0,
                    vol_shock: float = 1.0) -> np.ndarray:
    """Historical days resampled with replacement: ``(n_paths, horizon)`` (percent).

    ``block = 1`` draws days independently (keeps the fat tails, destroys clustering); ``block > 1`` copies
    runs of ``block`` consecutive days (a moving-block bootstrap, keeps clustering inside a block).
    ``vol_shock`` scales the demeaned returns.
    """
    r = _returns_1d("returns", returns)
    n_paths, horizon = _paths_args(n_paths, horizon)
    block = positive_int("block", block)
    if block > r.size:
        raise ValueError(f"block ({block}) cannot exceed the number of returns ({r.size})")
    shock = positive_float("vol_shock", vol_shock)
    rng = np.random.default_rng(seed)
    n_blocks = -(-horizon // block)
    starts = rng.integers(0, r.size - block + 1, size=(n_paths, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(n_paths, -1)[:, :horizon]
    m = r.mean()
    return m + shock * (r[idx] - m)


# ----------------------------------------------------------------------------- the learned generator
class ReturnTokenizer:
    """Quantise returns into ``n_bins`` tokens with equal-probability bins (empirical quantiles).

    ``encode(returns) -> ids``; ``decode(ids, rng)`` draws, for each id, a historical return from that bin
    (so the tails inside the outer bins are the data's own).
    """

    def __init__(self, returns, n_bins: int = 16):
        r = _returns_1d("returns", returns)
        self.n_bins = positive_int("n_bins", n_bins)
        if self.n_bins < 2:
            raise ValueError(f"n_bins must be at least 2, got {n_bins}")
        self.edges = np.quantile(r, np.linspace(0, 1, self.n_bins + 1)[1:-1])
        ids = self.encode(r)
        self.members = [np.sort(r[ids == b]) for b in range(self.n_bins)]

    def encode(self, returns) -> np.ndarray:
        """Token ids ``(n,)`` int64 in ``[0, n_bins)``."""
        return np.searchsorted(self.edges, np.asarray(returns, dtype=float), side="right").astype(np.int64)

    def decode(self, ids, rng: np.random.Generator) -> np.ndarray:
        """Returns (percent) of the shape of ``ids``: a random member of each token's bin."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty(ids.shape)
        for b in range(self.n_bins):
            sel = ids == b
            if sel.any():
                out[sel] = rng.choice(self.members[b], size=int(sel.sum()))
        return out


@dataclass(frozen=True)
class ReturnModelSpec:
    """Size and budget of the learned generator (a TinyLM over return tokens)."""

    n_bins: int = 16
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 64
    window: int = 64
    batch: int = 32
    steps: int = 300
    lr: float = 3e-3
    seed: int = 0


def train_return_model(spec: ReturnModelSpec = ReturnModelSpec(), returns=None, *, progress: bool = True,
                       use_cache: bool = True):
    """Train (or load from the model cache) a :class:`~frontier.models.TinyLM` on windows of return tokens.

    Returns ``(model, tokenizer)``.  Training data: random windows of ``spec.window`` consecutive days of
    ``returns`` (default :func:`sp500_returns`), next-token loss on every position.
    """
    import torch

    from ..models import TinyLM, TinyLMConfig, cached, train_lm

    if not isinstance(spec, ReturnModelSpec):
        raise TypeError(f"spec must be a ReturnModelSpec, got {type(spec).__name__}")
    r = sp500_returns() if returns is None else _returns_1d("returns", returns)
    if r.size <= spec.window:
        raise ValueError(f"need more than window={spec.window} returns, got {r.size}")
    tok = ReturnTokenizer(r, spec.n_bins)
    ids = torch.from_numpy(tok.encode(r))
    cfg = TinyLMConfig(vocab_size=spec.n_bins, d_model=spec.d_model, n_layers=spec.n_layers,
                       n_heads=spec.n_heads, d_ff=spec.d_ff, max_seq_len=4 * spec.window)

    def build():
        return TinyLM(cfg, seed=spec.seed)

    def batch_fn(rng: np.random.Generator):
        starts = rng.integers(0, ids.numel() - spec.window, size=spec.batch)
        return torch.stack([ids[s:s + spec.window] for s in starts])

    def fit(model):
        return train_lm(model, batch_fn, spec.steps, lr=spec.lr, seed=spec.seed, progress=progress,
                        desc="return generator")

    if not use_cache:
        model = build()
        fit(model)
        return model.eval(), tok
    key = {"spec": spec, "n_returns": int(r.size), "sum": round(float(r.sum()), 6),
           "sumsq": round(float((r ** 2).sum()), 6)}
    return cached("finance-return-generator", build, fit, key=key), tok


def sample_learned(model, tokenizer: ReturnTokenizer, n_paths: int, horizon: int, *, seed: int = 0,
                   context=None, temperature: float = 1.0) -> np.ndarray:
    """Sample ``(n_paths, horizon)`` returns (percent) from the learned generator.

    Each path starts from a random window of the historical tokens (``context``: the returns to draw it
    from, default S&P 500) and is extended with :func:`frontier.models.generate`, sliding the window
    so the prompt never exceeds the model's context.
    """
    import torch

    from ..models import generate

    n_paths, horizon = _paths_args(n_paths, horizon)
    if not isinstance(tokenizer, ReturnTokenizer):
        raise TypeError(f"tokenizer must be a ReturnTokenizer, got {type(tokenizer).__name__}")
    r = sp500_returns() if context is None else _returns_1d("context", context)
    ids = tokenizer.encode(r)
    win = max(8, model.max_seq_len // 4)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, ids.size - win, size=n_paths)
    seq = torch.from_numpy(np.stack([ids[s:s + win] for s in starts]))
    made = []
    g = torch.Generator().manual_seed(int(seed))
    step = model.max_seq_len - win
    while sum(m.shape[1] for m in made) < horizon:
        n = min(step, horizon - sum(m.shape[1] for m in made))
        out = generate(model, seq, n, temperature=temperature, seed=g)
        new = out[:, win:]
        made.append(new)
        seq = out[:, -win:]
    tokens = torch.cat(made, dim=1).numpy()
    return tokenizer.decode(tokens, rng)


# ----------------------------------------------------------------------------- judging a generator
def stylised_facts(returns, *, lags: int = 10) -> Dict[str, float]:
    """The stylised facts of daily returns, for one series ``(n,)`` or paths ``(n_paths, horizon)``.

    Returns a dict: ``excess_kurtosis`` (0 for a normal; pooled over paths), ``acf_returns_1`` (lag-1
    autocorrelation of returns, near 0), ``acf_squared_mean`` (mean autocorrelation of squared returns over
    lags 1..``lags``: clustering makes it clearly positive), ``lb_returns_p`` and ``lb_squared_p``
    (Ljung-Box p-values at ``lags``; for paths, the median over paths), ``std`` (percent).
    Autocorrelations of paths are averaged over paths.
    """
    from scipy.stats import kurtosis
    from statsmodels.stats.diagnostic import acorr_ljungbox
    from statsmodels.tsa.stattools import acf

    lags = positive_int("lags", lags)
    x = np.asarray(returns, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] <= lags + 1:
        raise ValueError(f"returns must be (n,) or (n_paths, horizon) with more than lags + 1 = {lags + 1} "
                         f"days, got shape {np.shape(returns)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("returns contains NaN or infinite values")
    a_r, a_s, p_r, p_s = [], [], [], []
    for row in x:
        a_r.append(acf(row, nlags=lags, fft=True)[1:])
        a_s.append(acf(row ** 2, nlags=lags, fft=True)[1:])
        p_r.append(float(acorr_ljungbox(row, lags=[lags])["lb_pvalue"].iloc[0]))
        p_s.append(float(acorr_ljungbox(row ** 2, lags=[lags])["lb_pvalue"].iloc[0]))
    a_r, a_s = np.nanmean(a_r, axis=0), np.nanmean(a_s, axis=0)
    return {"excess_kurtosis": float(kurtosis(x.ravel(), fisher=True)), "acf_returns_1": float(a_r[0]),
            "acf_squared_mean": float(np.mean(a_s)), "lb_returns_p": float(np.median(p_r)),
            "lb_squared_p": float(np.median(p_s)), "std": float(x.std())}


def horizon_returns(paths) -> np.ndarray:
    """Each path's total log return over its horizon, ``(n_paths,)`` (percent)."""
    x = np.asarray(paths, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"paths must be (n_paths, horizon), got shape {x.shape}")
    return x.sum(axis=1)


def value_at_risk(returns, level: float = 0.99) -> float:
    """Value-at-risk: the loss exceeded with probability ``1 - level`` (positive = a loss, same units).

    ``VaR = -q`` where ``q`` is the ``1 - level`` quantile of ``returns`` (the inverted-CDF definition:
    the smallest sample value with at least ``1 - level`` of the sample at or below it).
    """
    level = _level(level)
    r = np.asarray(returns, dtype=float).ravel()
    if r.size == 0 or not np.all(np.isfinite(r)):
        raise ValueError("returns must be a non-empty array of finite numbers")
    return float(-np.quantile(r, round(1.0 - level, 12), method="inverted_cdf"))   # 1 - 0.95 is not 0.05 in floats


def expected_shortfall(returns, level: float = 0.99) -> float:
    """Expected shortfall: the mean loss on the days at or beyond the VaR (positive = a loss)."""
    var = value_at_risk(returns, level)
    r = np.asarray(returns, dtype=float).ravel()
    return float(-r[r <= -var].mean())


def normal_var(mu: float, sigma: float, level: float = 0.99) -> float:
    """VaR of a normal return ``N(mu, sigma^2)``: ``-mu + sigma * Phi^{-1}(level)``."""
    from scipy.stats import norm
    return float(-mu + positive_float("sigma", sigma) * norm.ppf(_level(level)))


def normal_es(mu: float, sigma: float, level: float = 0.99) -> float:
    """ES of a normal return: ``-mu + sigma * phi(Phi^{-1}(level)) / (1 - level)``."""
    from scipy.stats import norm
    level = _level(level)
    return float(-mu + positive_float("sigma", sigma) * norm.pdf(norm.ppf(level)) / (1.0 - level))


def garch_moment_check(fit: GarchFit, paths) -> Dict[str, float]:
    """Compare simulated paths with the fit: mean and variance of returns against ``mu`` and the
    unconditional variance, with standard errors from the spread of per-path averages (paths are independent).

    Returns ``mean``, ``mean_se``, ``variance`` (mean squared deviation from ``mu``), ``variance_se``,
    ``target_variance``, ``z_variance`` (``(variance - target) / se``), ``z_mean``.
    """
    if not isinstance(fit, GarchFit):
        raise TypeError(f"fit must be a GarchFit, got {type(fit).__name__}")
    x = np.asarray(paths, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"paths must be (n_paths >= 2, horizon), got shape {x.shape}")
    n = x.shape[0]
    per_mean = x.mean(axis=1)
    per_var = ((x - fit.mu) ** 2).mean(axis=1)
    mean, mean_se = float(per_mean.mean()), float(per_mean.std(ddof=1) / math.sqrt(n))
    var, var_se = float(per_var.mean()), float(per_var.std(ddof=1) / math.sqrt(n))
    target = fit.unconditional_variance
    return {"mean": mean, "mean_se": mean_se, "target_mean": fit.mu, "z_mean": (mean - fit.mu) / mean_se,
            "variance": var, "variance_se": var_se, "target_variance": target, "z_variance": (var - target) / var_se}


def scenario_paths(generator: str, n_paths: int, horizon: int, *, seed: int = 0, vol_shock: float = 1.0,
                   returns=None, fit: Optional[GarchFit] = None, learned=None, block: int = 1) -> np.ndarray:
    """One entry point for the four generators (what the scenario explorer calls).

    ``generator`` one of :data:`GENERATORS`; GBM uses the historical mean and standard deviation, GARCH
    ``fit`` (default: a normal GARCH fitted to ``returns``), ``learned`` a ``(model, tokenizer)`` pair from
    :func:`train_return_model` (required for ``"learned"``; a volatility shock scales its demeaned returns).
    """
    choice("generator", generator, GENERATORS)
    r = sp500_returns() if returns is None else _returns_1d("returns", returns)
    if generator == "gbm":
        return simulate_gbm(float(r.mean()), float(r.std()), n_paths, horizon, seed=seed, vol_shock=vol_shock)
    if generator == "garch":
        return simulate_garch(fit if fit is not None else _default_fit(r), n_paths, horizon, seed=seed,
                              vol_shock=vol_shock)
    if generator == "bootstrap":
        return bootstrap_paths(r, n_paths, horizon, block=block, seed=seed, vol_shock=vol_shock)
    if learned is None:
        raise ValueError("generator 'learned' needs learned=(model, tokenizer) from train_return_model()")
    model, tok = learned
    x = sample_learned(model, tok, n_paths, horizon, seed=seed, context=r)
    m = r.mean()
    return m + positive_float("vol_shock", vol_shock) * (x - m)


def _default_fit(r: np.ndarray) -> GarchFit:
    key = (r.size, round(float(r.sum()), 9))
    if key not in _FITS:
        _FITS[key] = fit_garch(r)
    return _FITS[key]


_FITS: Dict[tuple, GarchFit] = {}


def tail_table(paths_by_name: Dict[str, np.ndarray], level: float = 0.99) -> Dict[str, Dict[str, float]]:
    """Per generator: daily and horizon VaR and ES at ``level`` (percent losses) and the stylised facts."""
    out = {}
    for name, paths in paths_by_name.items():
        x = np.asarray(paths, dtype=float)
        h = horizon_returns(x)
        row = {"var_daily": value_at_risk(x, level), "es_daily": expected_shortfall(x, level),
               "var_horizon": value_at_risk(h, level), "es_horizon": expected_shortfall(h, level)}
        row.update(stylised_facts(x))
        out[name] = row
    return out

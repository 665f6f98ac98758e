"""Is `confidence` a calibrated probability that the documents answer the question?

The label of a question is whether it is answerable (its gold `answers` are non-empty), not whether the
answer was right: `confidence` promises the former (DESIGN.md). Reliability table: ten equal-width bins
of confidence, [0, 0.1), …, [0.9, 1.0] (1.0 falls in the last), each with its count, mean confidence
and observed answerable rate. Expected calibration error: ECE = Σ_b (n_b / N) · |rate_b − mean_b| over
non-empty bins. AUC: the probability that a random answerable question gets a higher confidence than a
random unanswerable one (ties count one half); 0.5 is a coin. Brier: mean (confidence − label)².
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

BINS = 10


class ReliabilityBin(BaseModel):
    """One confidence bin: [low, high), how many questions, their mean confidence and answerable rate."""

    low: float
    high: float
    count: int
    mean_confidence: float | None
    observed_rate: float | None


class Calibration(BaseModel):
    """The reliability table with ECE (and its bootstrap CI), AUC and Brier score."""

    n: int
    bins: list[ReliabilityBin] = Field(default_factory=list)
    ece: float | None = None
    ece_ci_low: float | None = None
    ece_ci_high: float | None = None
    auc: float | None = None
    brier: float | None = None


def _bin_index(conf: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((conf * bins).astype(int), bins - 1)


def ece(
    confidence: Sequence[float] | np.ndarray, label: Sequence[float] | np.ndarray, bins: int = BINS
) -> float:
    """Expected calibration error over equal-width bins (see the module docstring)."""
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    lab = np.asarray(label, dtype=float)
    if conf.size == 0:
        raise ValueError("ECE of no questions")
    idx = _bin_index(conf, bins)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() / conf.size * abs(lab[mask].mean() - conf[mask].mean())
    return float(total)


def auc(confidence: Sequence[float] | np.ndarray, label: Sequence[float] | np.ndarray) -> float | None:
    """Mann-Whitney AUC of confidence, answerable (1) against unanswerable (0); None if a class is empty."""
    conf = np.asarray(confidence, dtype=float)
    lab = np.asarray(label, dtype=float) > 0.5
    pos, neg = conf[lab], conf[~lab]
    if pos.size == 0 or neg.size == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def calibrate(
    confidence: Sequence[float],
    label: Sequence[bool],
    *,
    bins: int = BINS,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Calibration:
    """Reliability table, ECE with a percentile bootstrap CI over questions, AUC and Brier score."""
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    lab = np.asarray(label, dtype=float)
    if conf.shape != lab.shape:
        raise ValueError(f"{conf.size} confidences for {lab.size} labels")
    if conf.size == 0:
        return Calibration(n=0)
    idx = _bin_index(conf, bins)
    table = []
    for b in range(bins):
        mask = idx == b
        count = int(mask.sum())
        table.append(
            ReliabilityBin(
                low=b / bins,
                high=(b + 1) / bins,
                count=count,
                mean_confidence=float(conf[mask].mean()) if count else None,
                observed_rate=float(lab[mask].mean()) if count else None,
            )
        )
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, conf.size, size=(resamples, conf.size))
    samples = np.array([ece(conf[d], lab[d], bins) for d in draws])
    alpha = (1.0 - level) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return Calibration(
        n=int(conf.size),
        bins=table,
        ece=ece(conf, lab, bins),
        ece_ci_low=float(low),
        ece_ci_high=float(high),
        auc=auc(conf, lab),
        brier=float(((conf - lab) ** 2).mean()),
    )


def render_reliability(cal: Calibration) -> str:
    """Markdown: the reliability table, then ECE [CI], AUC and Brier."""
    if not cal.n:
        return "No confidences to calibrate (no response carried `confidence`)."
    lines = ["| confidence | n | mean confidence | answerable rate |", "| --- | ---: | ---: | ---: |"]
    for b in cal.bins:
        mean = "—" if b.mean_confidence is None else f"{b.mean_confidence:.3f}"
        rate = "—" if b.observed_rate is None else f"{b.observed_rate:.3f}"
        lines.append(
            f"| [{b.low:.1f}, {b.high:.1f}{']' if b.high >= 1 else ')'} | {b.count} | {mean} | {rate} |"
        )
    auc_text = "—" if cal.auc is None else f"{cal.auc:.3f}"
    lines += [
        "",
        f"ECE {cal.ece:.3f} [{cal.ece_ci_low:.3f}, {cal.ece_ci_high:.3f}] · AUC {auc_text} · "
        f"Brier {cal.brier:.3f} (n={cal.n})",
    ]
    return "\n".join(lines)

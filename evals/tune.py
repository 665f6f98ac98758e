"""Fit the answering weights on **dev** questions only (never a test split), on one or more corpora.

1. retrieval fusion weights: a grid over RRF k and dense/lexical weights, maximising recall@5 + MRR;
2. sentence-scoring weights: a grid maximising the answer hit rate of the chosen quotes;
3. abstention: logistic regression over the answer features (label: the question is answerable),
   then the decision bias is moved to the point that best balances abstention F1 and false abstentions.

Scores are averaged over corpora (each corpus weighs the same, whatever its size), so the fit does not
favour the corpus with the most questions. `fit` works in memory on started engines; `verbatim eval
--loco` uses it to fit without the corpus it scores. `python -m verbatim.evals.tune` writes
service/qa/answer_model.json with the retrieval choice, which RetrievalConfig's defaults must equal (a
test checks it: the weights only hold for the candidates they were fitted on).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from verbatim.evals.scoring import Corpus, Question, answer_in_text, evidence_spans, load_questions
from verbatim.evals.suite import LEGACY_QUESTIONS, all_corpora, corpus_named, open_corpus
from verbatim.service.qa.engine import Engine
from verbatim.service.qa.extractive import FEATURES, MODEL_FILE, AnswerModel, Candidate
from verbatim.service.qa.retrieval import Hit, RetrievalConfig

RETRIEVAL_GRID = [
    RetrievalConfig(rrf_k=k, dense_weight=d, lexical_weight=1.0)
    for k, d in itertools.product([10, 30, 60], [0.3, 0.5, 0.7, 1.0])
]
WEIGHT_GRID = list(
    itertools.product(
        [0.3, 0.5, 0.7], [0.2, 0.35, 0.5], [0.0, 0.1, 0.2], [0.0, 0.05, 0.15], [0.85, 0.9, 0.95]
    )
)


@dataclass
class TuneSet:
    """The dev questions of one corpus with the engine over its documents."""

    name: str
    engine: Engine
    questions: list[Question]
    texts: Corpus


@dataclass(frozen=True)
class Fitted:
    """What a fit chose: the retrieval fusion and the answer model, with the objectives reached."""

    retrieval: RetrievalConfig
    model: AnswerModel
    retrieval_score: float
    hit_rate: float
    abstention_objective: float
    fitted_on: tuple[str, ...]


def apply(fitted: Fitted, engine: Engine) -> None:
    """Use a fit in an engine, in memory (answer_model.json is left alone)."""
    engine.retriever.config = fitted.retrieval
    engine.answerer.model = fitted.model


def fit(sets: Sequence[TuneSet], log: Callable[[str], None] = print) -> Fitted:
    """Fit retrieval fusion, sentence weights and abstention on the questions of `sets` (see module doc).

    Leaves every engine's retriever and answerer as it found them."""
    sets = [s for s in sets if s.questions]
    if not sets:
        raise ValueError("nothing to fit on: no dev questions in the chosen corpora")
    saved = [(s.engine.retriever.config, s.engine.answerer.model) for s in sets]
    try:
        return _fit(sets, log)
    finally:
        for s, (cfg, model) in zip(sets, saved, strict=True):
            s.engine.retriever.config = cfg
            s.engine.answerer.model = model


def _fit(sets: Sequence[TuneSet], log: Callable[[str], None]) -> Fitted:
    snaps = {s.name: s.engine.snapshot() for s in sets}
    vectors = {(s.name, q.id): s.engine.retriever.embed_query(q.question) for s in sets for q in s.questions}
    spans = {(s.name, q.id): evidence_spans(q, s.texts) for s in sets for q in s.questions if q.answerable}

    def retrieval_score(cfg: RetrievalConfig) -> float:
        per_corpus = []
        for s in sets:
            s.engine.retriever.config = cfg
            answerable = [q for q in s.questions if q.answerable]
            total = 0.0
            for q in answerable:
                hits = s.engine.retriever.search(snaps[s.name], q.question, vectors[(s.name, q.id)], 5)
                gold = spans[(s.name, q.id)]
                ranks = [
                    i
                    for i, h in enumerate(hits)
                    if any(
                        g.source == h.chunk.source and g.start < h.chunk.end and h.chunk.start < g.end
                        for g in gold
                    )
                ]
                total += (1.0 + 1 / (1 + ranks[0])) if ranks else 0.0
            if answerable:
                per_corpus.append(total / len(answerable))
        return float(np.mean(per_corpus)) if per_corpus else 0.0

    best_cfg = max(RETRIEVAL_GRID, key=retrieval_score)
    best_retrieval = retrieval_score(best_cfg)
    log(f"retrieval: {best_cfg} {best_retrieval:.4f}")

    cands: dict[tuple[str, str], list[Candidate]] = {}
    retrieved: dict[tuple[str, str], list[Hit]] = {}
    for s in sets:
        s.engine.retriever.config = best_cfg
        for q in s.questions:
            key = (s.name, q.id)
            retrieved[key] = s.engine.retriever.search(snaps[s.name], q.question, vectors[key], 5)
            cands[key] = s.engine.answerer.candidates(snaps[s.name], q.question, vectors[key], retrieved[key])

    def hit_rate(model: AnswerModel) -> float:
        never_abstain = replace(model, abstain_bias=100.0, abstain_weights=(0.0,) * len(FEATURES))
        per_corpus = []
        for s in sets:
            s.engine.answerer.model = never_abstain
            answerable = [q for q in s.questions if q.answerable]
            good = 0
            for q in answerable:
                key = (s.name, q.id)
                ranked = s.engine.answerer.rescore(cands[key])
                got = s.engine.answerer.choose(snaps[s.name], q.question, ranked, retrieved[key])
                text = " ".join(x.text for x in got.quotes)
                good += any(answer_in_text(a, text) for a in q.answers)
            if answerable:
                per_corpus.append(good / len(answerable))
        return float(np.mean(per_corpus)) if per_corpus else 0.0

    base = AnswerModel()
    weights = [
        replace(base, w_semantic=a, w_lexical=b, w_type=c, w_rank=d, second_quote_ratio=r)
        for a, b, c, d, r in WEIGHT_GRID
    ]
    best_model = max(weights, key=hit_rate)
    best_hits = hit_rate(best_model)
    log(f"sentence weights: {best_model} {best_hits:.4f}")

    rows, labels, groups = [], [], []
    for s in sets:
        s.engine.answerer.model = best_model
        for q in s.questions:
            ranked = s.engine.answerer.rescore(cands[(s.name, q.id)])
            if not ranked:
                continue
            feats = s.engine.answerer.features(snaps[s.name], q.question, ranked[0])
            rows.append([feats[f] for f in FEATURES])
            labels.append(1.0 if q.answerable else 0.0)
            groups.append(s.name)
    x, y = np.array(rows), np.array(labels)
    if y.min() == y.max():
        raise ValueError("the abstention model needs answerable and unanswerable dev questions")
    w, b = logistic(x, y, group_weights(groups, y))
    z = x @ w + b
    best_shift, best_obj = 0.0, -1.0
    for shift in np.linspace(-3, 3, 121):
        abstain = (z + shift) < 0
        unans = y == 0
        tp = (abstain & unans).sum()
        prec = tp / max(abstain.sum(), 1)
        rec = tp / max(unans.sum(), 1)
        false_abs = (abstain & ~unans).sum() / max((~unans).sum(), 1)
        obj = 2 * prec * rec / max(prec + rec, 1e-9) - 2 * max(0.0, false_abs - 0.08)
        if obj > best_obj:
            best_obj, best_shift = float(obj), float(shift)
    final = replace(
        best_model,
        abstain_weights=tuple(round(float(v), 4) for v in w),
        abstain_bias=round(float(b + best_shift), 4),
    )
    log(
        f"abstention: {dict(zip(FEATURES, final.abstain_weights, strict=True))} {final.abstain_bias} "
        f"objective {best_obj:.3f}"
    )
    return Fitted(best_cfg, final, best_retrieval, best_hits, best_obj, tuple(s.name for s in sets))


def group_weights(groups: Sequence[str], y: np.ndarray) -> np.ndarray:
    """Per-row weights so that each (corpus, label) cell weighs the same: every corpus counts equally,
    and within it answerable and unanswerable questions do (the classes are balanced)."""
    names = np.array(groups)
    weights = np.zeros(len(y))
    cells = {(g, int(label)) for g, label in zip(groups, y, strict=True)}
    for g, label in cells:
        mask = (names == g) & (y == label)
        weights[mask] = 1.0 / mask.sum()
    return weights * len(y) / weights.sum()


def logistic(
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    steps: int = 4000,
    lr: float = 0.5,
    l2: float = 0.01,
) -> tuple[np.ndarray, float]:
    """Weighted logistic regression by gradient descent (tiny data: no library needed); by default the
    two classes are balanced."""
    if sample_weight is None:
        sample_weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) * sample_weight
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return w, b


def write_model(fitted: Fitted, described: str, path: Path = MODEL_FILE) -> None:
    """Store a fit as answer_model.json (the service loads it at start)."""
    data = asdict(fitted.model)
    data["abstain_weights"] = list(fitted.model.abstain_weights)
    data["_fitted_on"] = described
    # The weights only hold for the retrieval they were fitted on: tests/test_answer_model.py checks
    # that RetrievalConfig's defaults are this choice.
    data["_retrieval"] = asdict(fitted.retrieval)
    data["_features"] = list(FEATURES)
    path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verbatim.evals.tune", description=__doc__)
    parser.add_argument("--fit-corpora", nargs="+", metavar="NAME", help="fit on these corpora's dev splits")
    parser.add_argument("--all-corpora", action="store_true", help="fit on every corpus with questions")
    parser.add_argument(
        "--questions", type=Path, help=f"one question file over seeds (default {LEGACY_QUESTIONS.name})"
    )
    parser.add_argument("--data-root", type=Path, help="where each corpus is indexed (default: temp dirs)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the fit, do not write answer_model.json"
    )
    args = parser.parse_args(argv)
    if args.questions and (args.fit_corpora or args.all_corpora):
        parser.error(
            "--questions fits on the seeds alone; it does not combine with --fit-corpora/--all-corpora"
        )
    if args.all_corpora:
        corpora = all_corpora()
    elif args.fit_corpora:
        corpora = [corpus_named(n) for n in args.fit_corpora]
    else:
        corpora = [corpus_named("seeds", args.questions or LEGACY_QUESTIONS)]
    missing = [c.name for c in corpora if not c.has_questions]
    if missing or not corpora:
        parser.error(f"no questions for: {', '.join(missing) or 'any corpus'}")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="verbatim-tune-")))
        root = args.data_root or tmp
        sets = []
        for c in corpora:
            opened = stack.enter_context(open_corpus(c, root / c.name))
            sets.append(TuneSet(c.name, opened.engine, load_questions(c.questions, "dev"), opened.texts))
        fitted = fit(sets)
    described = ", ".join(f"evals/corpora/{c.name}/{c.questions.name} dev split" for c in corpora)
    if args.dry_run:
        print("dry run: answer_model.json not written")
    else:
        write_model(fitted, f"{described} (python -m verbatim.evals.tune)")
        print(f"wrote {MODEL_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

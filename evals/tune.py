"""Fit answering on the **dev** splits of the eval corpora (never a test split); writes answer_model.json.

    python -m verbatim.evals.tune [--corpus NAME ...] [--dry-run]

1. sentence-ranking weights: a grid maximising the mean over corpora of the answer hit rate of the
   chosen quotes (the mean of per-corpus rates, so no corpus dominates by size);
2. confidence: plain (unweighted, L2) logistic regression over FEATURES, label "the question is
   answerable", pooled over the corpora — unweighted, so its output is a probability;
3. the operating point: `abstain_below` the highest threshold whose false-abstention rate on every
   corpus stays within FALSE_ABSTENTION_BUDGET (refuse only when confident); `answer_at` the lowest
   threshold above which ANSWER_PRECISION of the dev questions are answerable (hedged below it).
Leave-one-corpus-out figures (fitted without a corpus, scored on it) are printed for each corpus.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from verbatim.evals.baselines import WINDOW, NaiveIndex, Window
from verbatim.evals.scoring import Question, answer_in_text, find_loose, load_questions
from verbatim.service.qa.answer_model import FEATURES, MODEL_FILE, AnswerModel
from verbatim.service.qa.engine import Engine
from verbatim.service.qa.extractive import Candidate
from verbatim.service.qa.question import ParsedQuestion
from verbatim.service.qa.retrieval import Hit, RetrievalConfig
from verbatim.settings import Settings, get_settings

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO / "evals" / "corpora"
DATA = REPO / "reports" / "eval-data"
FALSE_ABSTENTION_BUDGET = 0.08
OFF_TOPIC = CORPORA / "offtopic.jsonl"
OFF_TOPIC_WEIGHT = 0.3
ANSWER_PRECISION = 0.9  # answers above answer_at are not hedged
TOP_K = 5
# Used only to build candidates before the grid picks the real ranking weights.
NEUTRAL = AnswerModel(0.5, 0.3, 0.1, 0.05, 0.9, (0.0,) * len(FEATURES), 0.0, 0.5, 0.0, 10.0, 1.0, 1.0)
Gold = list[tuple[str, int, int]]  # (source, start, end) of a question's evidence
FUSION_GRID = [RetrievalConfig(k, d, 1.0) for k in (10.0, 30.0, 60.0) for d in (0.5, 0.75, 1.0, 1.5, 2.0)] + [
    RetrievalConfig(0.0, share, round(1 - share, 2), "convex") for share in (0.3, 0.4, 0.5, 0.6, 0.7)
]


@dataclass
class Item:
    """One dev question, retrieved once: what every fitting step reads."""

    corpus: str
    question: Question
    parsed: ParsedQuestion
    hits: list[Hit]
    candidates: list[Candidate]


def corpus_names() -> list[str]:
    return sorted(p.parent.name for p in CORPORA.glob("*/questions.jsonl"))


def open_engine(name: str) -> Engine:
    """An engine over one corpus, its index kept under reports/eval-data/NAME (ingest is incremental)."""
    base = get_settings().model_dump()
    settings = Settings(
        **{
            **base,
            "data_dir": DATA / name,
            "corpus_dir": (CORPORA / name / "documents").resolve(),
            "chroma_url": None,
        }
    )
    engine = Engine(settings)
    engine.answerer.model = NEUTRAL
    engine.start(bootstrap=False)
    engine.ingest(None, wait=600.0)
    return engine


def choose_fusion(
    engines: dict[str, Engine],
    log: Callable[[str], None] = print,
    questions: dict[str, list[Question]] | None = None,
) -> RetrievalConfig:
    """The fusion for every corpus, on the answerable dev questions, by three rules in order:
    1. no corpus's evidence recall@5 falls below plain BM25 over naive 1,000-character chunks of the same
       documents (`--compare`'s baseline): the system must not be worse than the obvious thing anywhere;
    2. the worst corpus's recall@5 is highest (no corpus is traded away for the average);
    3. the mean MRR is highest. Sets the fusion on every engine. `questions`: each corpus's dev questions
    (default: read from evals/corpora)."""
    prepared = {
        name: _retrieval_items(engine, name, (questions or {}).get(name)) for name, engine in engines.items()
    }
    floors = {name: _bm25_recall(engine, prepared[name]) for name, engine in engines.items()}

    def figures(cfg: RetrievalConfig) -> tuple[bool, float, float]:
        recalls, mrrs, above = [], [], True
        for name, engine in engines.items():
            engine.retriever.config = cfg
            snap = engine.snapshot()
            search = engine.retriever.search
            ranks = [_first_hit(search(snap, q, v, TOP_K), spans) for q, v, spans in prepared[name]]
            recall = sum(r is not None for r in ranks) / max(len(ranks), 1)
            above = above and recall >= floors[name]
            recalls.append(recall)
            mrrs.append(sum(1 / (1 + r) for r in ranks if r is not None) / max(len(ranks), 1))
        return above, min(recalls), float(np.mean(mrrs))

    best = max(FUSION_GRID, key=figures)
    log(f"fusion: {best}; BM25-1000 recall@5 {floors}")
    log(f"  (every corpus at or above it, worst recall@5, mean MRR): {figures(best)}")
    return best


def _bm25_recall(engine: Engine, items: list[tuple[ParsedQuestion, np.ndarray, Gold]]) -> float:
    """Recall@5 of plain BM25 over naive 1,000-character windows of the documents' served text."""
    windows = []
    for source in engine.snapshot().documents:
        text = engine.document(source).text
        windows += [
            Window(source, s, min(s + WINDOW, len(text)), text[s : s + WINDOW])
            for s in range(0, len(text), WINDOW)
            if text[s : s + WINDOW].strip()
        ]
    index = NaiveIndex(windows)
    found = 0
    for question, _, spans in items:
        passages = index.lexical(question.text, TOP_K)
        found += any(
            p["source"] == src and s < p["end"] and p["start"] < e for p in passages for src, s, e in spans
        )
    return found / max(len(items), 1)


def _retrieval_items(
    engine: Engine, name: str, questions: list[Question] | None = None
) -> list[tuple[ParsedQuestion, np.ndarray, Gold]]:
    snap = engine.snapshot()
    out = []
    for q in (
        questions if questions is not None else load_questions(CORPORA / name / "questions.jsonl", "dev")
    ):
        if not q.answerable:
            continue
        spans = []
        for source in q.sources:
            text = engine.document(source).text if source in snap.documents else ""
            for evidence in q.evidence:
                spans += [(source, s, e) for s, e in find_loose(text, evidence)]
        parsed = engine.parse(snap, q.question)
        out.append((parsed, engine.retriever.embed_query(parsed), spans))
    return out


def _first_hit(hits: list[Hit], spans: Gold) -> int | None:
    for rank, h in enumerate(hits):
        if any(src == h.chunk.source and s < h.chunk.end and h.chunk.start < e for src, s, e in spans):
            return rank
    return None


def gather(name: str, engine: Engine, questions: list[Question] | None = None) -> list[Item]:
    """Retrieve once for each question (default: the corpus's dev split, plus the off-topic questions)
    and build its candidates."""
    snap = engine.snapshot()
    items = []
    if questions is None:
        questions = load_questions(CORPORA / name / "questions.jsonl", "dev") + off_topic()
    for q in questions:
        found = engine.retrieve(q.question, TOP_K, None)
        cands = engine.answerer.candidates(snap, found.question, found.vector, found.hits)
        items.append(Item(name, q, found.question, found.hits, cands))
    return items


def off_topic() -> list[Question]:
    """General questions that no corpus answers ("What causes the northern lights?"): the blind sets are
    all on topic, and without these the confidence never learns that an unrelated question is one the
    documents do not answer. They weigh OFF_TOPIC_WEIGHT each in the fit, so the probabilities stay
    calibrated on the blind questions."""
    return load_questions(OFF_TOPIC, "dev")


def hit_rate(engine_by: dict[str, Engine], items: list[Item], model: AnswerModel) -> float:
    """Mean over corpora of the share of answerable questions whose chosen quotes hold a gold answer."""
    quoting = replace(model, weights=(0.0,) * len(FEATURES), bias=10.0)
    rates = []
    for name in sorted({i.corpus for i in items}):
        answerer = engine_by[name].answerer
        answerer.model = quoting
        snap = engine_by[name].snapshot()
        answerable = [i for i in items if i.corpus == name and i.question.answerable]
        good = 0
        for item in answerable:
            got = answerer.choose(snap, item.parsed, answerer.rescore(item.candidates), item.hits)
            text = " ".join(q.text for q in got.quotes)
            good += any(answer_in_text(a, text) for a in item.question.answers)
        rates.append(good / max(len(answerable), 1))
    return float(np.mean(rates))


def feature_rows(engine_by: dict[str, Engine], items: list[Item], model: AnswerModel) -> np.ndarray:
    rows = []
    for item in items:
        answerer = engine_by[item.corpus].answerer
        answerer.model = model
        ranked = answerer.rescore(item.candidates)
        if not ranked:
            rows.append([0.0] * len(FEATURES))
            continue
        feats = answerer.features(engine_by[item.corpus].snapshot(), item.parsed, ranked[0])
        rows.append([feats[f] for f in FEATURES])
    return np.array(rows)


def logistic(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    steps: int = 6000,
    lr: float = 0.5,
    l2: float = 0.01,
) -> tuple[np.ndarray, float]:
    """Logistic regression by gradient descent (tiny data: no library needed); `weights` per sample."""
    sw = np.ones(len(y)) if weights is None else weights
    sw = sw * len(y) / sw.sum()
    w, b = np.zeros(x.shape[1]), float(np.log(max(y.mean(), 1e-6) / max(1 - y.mean(), 1e-6)))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) * sw
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * float(g.mean())
    return w, b


def abstain_threshold(p: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """The highest threshold at which no corpus refuses more than the budget of its answerable questions."""
    best = 0.0
    for t in np.linspace(0.0, 1.0, 101):
        ok = all(
            ((p[(groups == g) & (y == 1)] < t).mean() if ((groups == g) & (y == 1)).any() else 0.0)
            <= FALSE_ABSTENTION_BUDGET
            for g in np.unique(groups)
        )
        if ok:
            best = float(t)
    return best


def answer_threshold(p: np.ndarray, y: np.ndarray, floor: float) -> float:
    """The lowest threshold (at least `floor`) above which at least ANSWER_PRECISION of the dev questions
    are answerable: below it an answer is hedged."""
    for t in np.linspace(floor, 1.0, round((1.0 - floor) * 100) + 1):
        above = p >= t
        if above.any() and y[above].mean() >= ANSWER_PRECISION:
            return float(t)
    return 1.0


def abstention_figures(p: np.ndarray, y: np.ndarray, threshold: float) -> str:
    pos, neg = p[y == 1], p[y == 0]
    auc = (
        float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())
        if len(neg)
        else 0.0
    )
    abstain = p < threshold
    unans = y == 0
    tp = int((abstain & unans).sum())
    precision = tp / max(int(abstain.sum()), 1)
    recall = tp / max(int(unans.sum()), 1)
    false_abs = float((abstain & ~unans).sum() / max(int((~unans).sum()), 1))
    return f"AUC {auc:.2f} abstention P {precision:.2f} R {recall:.2f} false abstention {false_abs:.2f}"


def fit(engines: dict[str, Engine], items: list[Item], log: Callable[[str], None] = print) -> AnswerModel:
    """Fit ranking weights, confidence and operating point on `items` (see the module docstring), in
    memory. The engines' answerers are left with other models: callers set the one they want."""
    grid = [
        replace(NEUTRAL, w_semantic=a, w_lexical=b, w_type=c, w_rank=d, second_quote_ratio=r)
        for a, b, c, d, r in itertools.product(
            [0.3, 0.5, 0.7], [0.2, 0.35, 0.5], [0.0, 0.1, 0.2], [0.0, 0.05, 0.15], [0.85, 0.9]
        )
    ]
    ranking = max(grid, key=lambda m: hit_rate(engines, items, m))
    log(f"ranking: {ranking} hit rate (mean over corpora) {hit_rate(engines, items, ranking):.4f}")
    x = feature_rows(engines, items, ranking)
    y = np.array([1.0 if i.question.answerable else 0.0 for i in items])
    if y.min() == y.max():
        raise ValueError("fitting confidence needs answerable and unanswerable dev questions")
    groups = np.array([i.corpus for i in items])
    blind = np.array([not i.question.id.startswith("off") for i in items])
    w, b = logistic(x, y, np.where(blind, 1.0, OFF_TOPIC_WEIGHT))
    p = 1 / (1 + np.exp(-(x @ w + b)))
    below = abstain_threshold(p[blind], y[blind], groups[blind])
    model = replace(
        ranking,
        weights=tuple(round(float(v), 4) for v in w),
        bias=round(b, 4),
        answer_at=round(answer_threshold(p[blind], y[blind], below), 3),
        abstain_below=round(below, 3),
    )
    log(f"confidence: {dict(zip(FEATURES, model.weights, strict=True))} bias {model.bias}")
    log(f"operating point: answer at {model.answer_at} abstain below {model.abstain_below}")
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m verbatim.evals.tune", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus",
        "--fit-corpora",
        action="append",
        nargs="+",
        help="corpora to fit on (repeatable; default: every corpus with questions)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the fit, do not write answer_model.json"
    )
    args = parser.parse_args(argv)
    names = [n for group in args.corpus for n in group] if args.corpus else corpus_names()
    engines = {name: open_engine(name) for name in names}
    try:
        fusion = choose_fusion(engines)
        items = [item for name in names for item in gather(name, engines[name])]
        model = replace(fit(engines, items), **fusion.fitted())
        x = feature_rows(engines, items, model)
        y = np.array([1.0 if i.question.answerable else 0.0 for i in items])
        groups = np.array([i.corpus for i in items])
        w, b = np.array(model.weights), model.bias
        p = 1 / (1 + np.exp(-(x @ w + b)))
        for name in names:
            held = groups == name
            blind = np.array([not i.question.id.startswith("off") for i in items])
            weights = np.where(blind, 1.0, OFF_TOPIC_WEIGHT)[~held]
            w_o, b_o = logistic(x[~held], y[~held], weights) if len(names) > 1 else (w, b)
            p_o = 1 / (1 + np.exp(-(x[held] @ w_o + b_o)))
            t_o = (
                abstain_threshold(p[~held], y[~held], groups[~held])
                if len(names) > 1
                else model.abstain_below
            )
            print(f"{name}: in-sample {abstention_figures(p[held], y[held], model.abstain_below)}")
            print(f"{name}: leave-one-corpus-out {abstention_figures(p_o, y[held], t_o)}")
        if not args.dry_run:
            MODEL_FILE.write_text(
                model.to_json(fitted_on=f"dev splits of {', '.join(names)} (evals/tune.py)")
            )
            print("written", MODEL_FILE)
    finally:
        for engine in engines.values():
            engine.stop()


if __name__ == "__main__":
    main()

"""Fit the answering weights on the **dev** split only (never the test split).

1. retrieval fusion weights: a grid over RRF k and dense/lexical weights, maximising recall@5 + MRR;
2. sentence-scoring weights: a grid maximising the answer hit rate of the chosen quotes;
3. abstention: logistic regression over the answer features (label: the question is answerable),
   then the decision bias is moved to the point that best balances abstention F1 and false abstentions.
Writes service/qa/answer_model.json with the retrieval choice, which RetrievalConfig's defaults must
equal (a test checks it: the weights only hold for the candidates they were fitted on).
"""

from __future__ import annotations

import itertools
import json
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from verbatim.evals.runner import QUESTIONS, REPO
from verbatim.evals.scoring import Corpus, answer_in_text, evidence_spans, load_questions
from verbatim.service.qa.engine import Engine
from verbatim.service.qa.extractive import FEATURES, MODEL_FILE, AnswerModel
from verbatim.service.qa.retrieval import RetrievalConfig
from verbatim.settings import Settings, get_settings


def main() -> None:
    questions = load_questions(QUESTIONS, "dev")
    corpus = Corpus(REPO / "seeds")
    with tempfile.TemporaryDirectory() as tmp:
        base = get_settings().model_dump()
        engine = Engine(
            Settings(**{**base, "data_dir": Path(tmp), "corpus_dir": REPO / "seeds", "chroma_url": None})
        )
        engine.start()
        snap = engine.snapshot()
        vectors = {q.id: engine.retriever.embed_query(q.question) for q in questions}
        spans = {q.id: evidence_spans(q, corpus) for q in questions}

        def retrieval_score(cfg: RetrievalConfig) -> float:
            engine.retriever.config = cfg
            recall, mrr = 0.0, 0.0
            answerable = [q for q in questions if q.answerable]
            for q in answerable:
                hits = engine.retriever.search(snap, q.question, vectors[q.id], 5)
                ranks = [
                    i
                    for i, h in enumerate(hits)
                    if any(
                        s.source == h.chunk.source and s.start < h.chunk.end and h.chunk.start < s.end
                        for s in spans[q.id]
                    )
                ]
                recall += bool(ranks)
                mrr += 1 / (1 + ranks[0]) if ranks else 0
            return (recall + mrr) / len(answerable)

        grid = [
            RetrievalConfig(rrf_k=k, dense_weight=d, lexical_weight=1.0)
            for k, d in itertools.product([10, 30, 60], [0.3, 0.5, 0.7, 1.0])
        ]
        best_cfg = max(grid, key=retrieval_score)
        print("retrieval:", best_cfg, round(retrieval_score(best_cfg), 4))
        engine.retriever.config = best_cfg

        cands, retrieved = {}, {}
        for q in questions:
            retrieved[q.id] = engine.retriever.search(snap, q.question, vectors[q.id], 5)
            cands[q.id] = engine.answerer.candidates(snap, q.question, vectors[q.id], retrieved[q.id])

        def hit_rate(model: AnswerModel) -> float:
            engine.answerer.model = replace(model, abstain_bias=100.0, abstain_weights=(0.0,) * len(FEATURES))
            good = 0
            answerable = [q for q in questions if q.answerable]
            for q in answerable:
                ranked = engine.answerer.rescore(cands[q.id])
                got = engine.answerer.choose(snap, q.question, ranked, retrieved[q.id])
                text = " ".join(x.text for x in got.quotes)
                good += any(answer_in_text(a, text) for a in q.answers)
            return good / len(answerable)

        base_model = AnswerModel()
        weights = [
            replace(base_model, w_semantic=a, w_lexical=b, w_type=c, w_rank=d, second_quote_ratio=r)
            for a, b, c, d, r in itertools.product(
                [0.3, 0.5, 0.7], [0.2, 0.35, 0.5], [0.0, 0.1, 0.2], [0.0, 0.05, 0.15], [0.85, 0.9, 0.95]
            )
        ]
        best_model = max(weights, key=hit_rate)
        print("sentence weights:", best_model, round(hit_rate(best_model), 4))

        engine.answerer.model = best_model
        rows, labels = [], []
        for q in questions:
            ranked = engine.answerer.rescore(cands[q.id])
            if not ranked:
                continue
            feats = engine.answerer.features(snap, q.question, ranked[0])
            rows.append([feats[f] for f in FEATURES])
            labels.append(1.0 if q.answerable else 0.0)
        x, y = np.array(rows), np.array(labels)
        w, b = _logistic(x, y)
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
                best_obj, best_shift = obj, float(shift)
        final = replace(
            best_model,
            abstain_weights=tuple(round(float(v), 4) for v in w),
            abstain_bias=round(float(b + best_shift), 4),
        )
        data = asdict(final)
        data["abstain_weights"] = list(final.abstain_weights)
        data["_fitted_on"] = "evals/questions.jsonl dev split (python -m verbatim.evals.tune)"
        # The weights only hold for the retrieval they were fitted on: tests/test_answer_model.py checks
        # that RetrievalConfig's defaults are this choice.
        data["_retrieval"] = asdict(best_cfg)
        data["_features"] = list(FEATURES)
        MODEL_FILE.write_text(json.dumps(data, indent=2) + "\n")
        print(
            "abstention:",
            dict(zip(FEATURES, final.abstain_weights, strict=True)),
            final.abstain_bias,
            "objective",
            round(best_obj, 3),
        )
        engine.stop()


def _logistic(
    x: np.ndarray, y: np.ndarray, steps: int = 4000, lr: float = 0.5, l2: float = 0.01
) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression by gradient descent (tiny data: no library needed)."""
    weights = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) * weights
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return w, b


if __name__ == "__main__":
    main()

"""The fitted answer model and the configuration it was fitted under."""

from __future__ import annotations

import json
from dataclasses import asdict

from verbatim.service.qa.extractive import FEATURES, MODEL_FILE, AnswerModel
from verbatim.service.qa.retrieval import RetrievalConfig


def test_the_model_was_fitted_for_the_features_in_use() -> None:
    data = json.loads(MODEL_FILE.read_text())
    assert data["_features"] == list(FEATURES)
    assert len(AnswerModel.load().abstain_weights) == len(FEATURES)


def test_the_served_retrieval_is_the_one_the_model_was_fitted_on() -> None:
    """`python -m evals.tune` picks the fusion on dev and fits the sentence and abstention weights on
    its candidates: serving another fusion would feed the model candidates it never saw."""
    assert json.loads(MODEL_FILE.read_text())["_retrieval"] == asdict(RetrievalConfig())

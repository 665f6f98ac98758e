"""The fitted numbers: one home, loaded strictly, a probability, and the operating point."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from verbatim.service.qa.answer_model import FEATURES, MODEL_FILE, AnswerModel, AnswerModelError


def test_the_shipped_model_loads_and_matches_the_features() -> None:
    model = AnswerModel.load()
    assert len(model.weights) == len(FEATURES)
    assert json.loads(MODEL_FILE.read_text())["features"] == list(FEATURES)
    assert 0 <= model.abstain_below <= model.answer_at <= 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing"),
        ("{not json", "cannot be read"),
        ("[]", "not a JSON object"),
        (json.dumps({"features": ["other"]}), "fitted for features"),
        (json.dumps({"features": list(FEATURES), "w_semantic": 1}), "lacks"),
    ],
)
def test_a_missing_or_malformed_model_is_an_error_not_a_fallback(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "answer_model.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AnswerModelError, match=message):
        AnswerModel.load(path)


def test_confidence_is_a_probability_and_decides_answer_hedge_abstain(tmp_path: Path) -> None:
    weights = (2.0,) + (0.0,) * (len(FEATURES) - 1)
    model = AnswerModel(0.5, 0.3, 0.1, 0.05, 0.9, weights, -1.0, 0.5, 0.2, 10, 1.0, 1.0)
    features = dict.fromkeys(FEATURES, 0.0)
    assert model.confidence(features) == pytest.approx(1 / (1 + 2.718281828**1.0), rel=1e-6)
    assert model.decide(0.7) == "answer" and model.decide(0.3) == "hedge" and model.decide(0.1) == "abstain"
    path = tmp_path / "m.json"
    path.write_text(model.to_json(fitted_on="test"))
    assert AnswerModel.load(path) == model
    bad = tmp_path / "bad.json"
    bad.write_text(replace(model, abstain_below=0.9).to_json())
    with pytest.raises(AnswerModelError, match="out of shape"):
        AnswerModel.load(bad)

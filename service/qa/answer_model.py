"""The fitted numbers of answering, in one home: `answer_model.json`, written by `evals/tune.py`.

Loaded strictly: a missing file, a missing field or features that do not match the code are an error at
start, never a silent fallback to other numbers. The code carries no second copy of any fitted value.

- sentence ranking: `score = w_semantic·semantic + w_lexical·lexical + w_type·offers_value + w_rank/(1+rank)`;
- confidence: a logistic model over FEATURES, fitted without class weights so its output is a
  probability (checked per corpus by the eval's reliability table and ECE);
- the operating point: answer at `confidence >= answer_at`, answer hedged between `abstain_below` and
  `answer_at`, abstain below `abstain_below`;
- retrieval fusion: `fusion`, `rrf_k`, `dense_weight`, `lexical_weight` (the candidates everything above was
  fitted on come from this fusion, so it lives here too).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

MODEL_FILE = Path(__file__).with_name("answer_model.json")

FEATURES = (
    "semantic",  # cosine of the best sentence (its late-chunked vector) to the question
    "lexical",  # IDF-weighted share of question terms in the best sentence and its neighbours
    "passage_lexical",  # the same over the best sentence's passage and its section title
    "passage_similarity",  # cosine of that passage to the question
    "offers_value",  # the question asks for no value, or the best sentence window holds a new one
    "unknown_terms",  # IDF-weighted share of question terms the corpus never uses
    "support",  # how well the least-covered key word is matched in the evidence (word vectors)
)

Decision = Literal["answer", "hedge", "abstain"]
Fusion = Literal["rrf", "convex"]  # how retrieval merges its dense and lexical lists (`retrieval.fuse`)


class AnswerModelError(RuntimeError):
    """answer_model.json is missing, malformed or fitted for other features: run evals/tune.py."""


@dataclass(frozen=True)
class AnswerModel:
    """Sentence-ranking weights, the confidence model and the operating point."""

    w_semantic: float
    w_lexical: float
    w_type: float
    w_rank: float
    second_quote_ratio: float
    weights: tuple[float, ...]
    bias: float
    answer_at: float
    abstain_below: float
    rrf_k: float  # retrieval fusion (`retrieval.fuse`): reciprocal rank's k, dense and lexical weights
    dense_weight: float
    lexical_weight: float
    fusion: Fusion = "rrf"

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise AnswerModelError(f"{path} is missing: run evals/tune.py to fit it") from exc
        except (OSError, ValueError) as exc:
            raise AnswerModelError(f"{path} cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise AnswerModelError(f"{path} is not a JSON object")
        if data.get("features") != list(FEATURES):
            raise AnswerModelError(
                f"{path} was fitted for features {data.get('features')}, the code has {list(FEATURES)}: "
                "run evals/tune.py"
            )
        names = [f.name for f in fields(cls) if f.name != "fusion"]
        missing = [n for n in names if n not in data]
        if missing:
            raise AnswerModelError(f"{path} lacks {', '.join(missing)}: run evals/tune.py")
        try:
            numbers = {n: float(data[n]) for n in names if n != "weights"}
            fusion = data.get("fusion", "rrf")
            if fusion not in ("rrf", "convex"):
                raise AnswerModelError(f"{path}: fusion must be 'rrf' or 'convex', not {fusion!r}")
            model = cls(weights=tuple(float(v) for v in data["weights"]), fusion=fusion, **numbers)
        except (TypeError, ValueError) as exc:
            raise AnswerModelError(f"{path} has a malformed value: {exc}") from exc
        if len(model.weights) != len(FEATURES) or not 0 <= model.abstain_below <= model.answer_at <= 1:
            raise AnswerModelError(f"{path}: weights or thresholds are out of shape")
        return model

    def confidence(self, features: dict[str, float]) -> float:
        """Probability that the documents answer the question."""
        z = self.bias + sum(w * features[name] for w, name in zip(self.weights, FEATURES, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def decide(self, confidence: float) -> Decision:
        if confidence >= self.answer_at:
            return "answer"
        return "hedge" if confidence >= self.abstain_below else "abstain"

    def to_json(self, **extra: Any) -> str:
        data: dict[str, Any] = {"features": list(FEATURES), **asdict(self), **extra}
        data["weights"] = list(self.weights)
        return json.dumps(data, indent=2) + "\n"

"""Validate a corpus's question set: `python -m verbatim.evals.validate_questions evals/corpora/NAME`.

Errors (exit status 1): a line that is not a JSON object of the DESIGN.md shape (`id`, `question`,
`answers`, `evidence`, `source`, `kind`, `split`), a duplicate id, an unknown kind or split, a source
that is not a file under `documents/`, an evidence string that does not occur in its sources (byte-exact
for text formats; for converted formats whitespace-insensitive against the text the format's reader
extracts, `verbatim.ingest.formats.read_document`), evidence that holds none of the answers
(normalised as the scorer does), an answerable question without evidence or an `unanswerable` one with
answers, fewer than 20 % unanswerable questions, fewer than 30 % paraphrased answerable questions, and a
near-duplicate pair of questions in different splits (a test question the dev split already asks).
`answers` lists acceptable answers, so one of them must occur in the evidence (the scorer counts a hit
for any); a question without evidence needs no source (`""` or `[]`).

Paraphrased: the question shares no run of four consecutive words with any of its evidence strings
(words = the scorer's normalised tokens). Near-duplicate: the same normalised text, or a Jaccard
similarity of the two questions' word sets of at least 0.8.

Warnings: evidence in a format no reader handles yet ("not checkable yet"), near-duplicates within a
split, fewer than 80 questions. Counts by kind and split, and the measured shares, are printed.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from verbatim.evals.scoring import (
    KINDS,
    Question,
    answer_in_text,
    find_evidence,
    is_text_format,
    normalize_text,
)
from verbatim.ingest.formats import read_document
from verbatim.ingest.reader import PathOutsideRoot, ReadProblem

FIELDS = ("id", "question", "answers", "evidence", "source", "kind", "split")
MIN_UNANSWERABLE = 0.20
MIN_PARAPHRASE = 0.30
MIN_QUESTIONS = 80
SHARED_RUN = 4
NEAR_DUPLICATE = 0.8


@dataclass
class Validation:
    """What a question file holds and what is wrong with it."""

    questions: list[Question] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unchecked: int = 0  # evidence strings in formats no reader handles yet
    unanswerable_share: float = 0.0
    paraphrase_share: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


def word_runs(text: str, n: int = SHARED_RUN) -> set[tuple[str, ...]]:
    """Every run of `n` consecutive normalised words."""
    tokens = normalize_text(text).split()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def is_paraphrase(question: Question) -> bool:
    """No run of four words of the question occurs in any of its evidence strings."""
    runs = word_runs(question.question)
    return not any(runs & word_runs(e) for e in question.evidence)


class _Texts:
    """Document texts as the validator checks them: raw for text formats, extracted for converted ones."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.cache: dict[str, str | ReadProblem | None] = {}

    def get(self, source: str) -> str | ReadProblem | None:
        """The text; None if there is no such file under the root; a ReadProblem if it cannot be read."""
        if source not in self.cache:
            path = (self.root / source).resolve()
            if not path.is_relative_to(self.root) or not path.is_file():
                self.cache[source] = None
            elif is_text_format(source):
                try:
                    with open(path, encoding="utf-8", newline="") as fh:
                        self.cache[source] = fh.read()
                except (OSError, UnicodeDecodeError) as exc:
                    self.cache[source] = ReadProblem(source, f"cannot read: {exc}")
            else:
                try:
                    doc = read_document(path, self.root)
                except PathOutsideRoot as exc:
                    doc = ReadProblem(source, str(exc))
                self.cache[source] = doc if isinstance(doc, ReadProblem) else doc.text
        return self.cache[source]


def _parse(path: Path, result: Validation) -> None:
    seen: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"line {lineno}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                result.errors.append(f"{where}: not JSON ({exc.msg})")
                continue
            if not isinstance(raw, dict):
                result.errors.append(f"{where}: not a JSON object")
                continue
            missing = [f for f in FIELDS if f not in raw]
            extra = sorted(set(raw) - set(FIELDS))
            if missing:
                result.errors.append(f"{where}: missing field(s) {', '.join(missing)}")
                continue
            if extra:
                result.warnings.append(f"{where}: unknown field(s) {', '.join(extra)}")
            if raw["kind"] not in KINDS:
                result.errors.append(f"{where}: kind {raw['kind']!r} is not one of {', '.join(KINDS)}")
                continue
            if raw["split"] not in ("dev", "test"):
                result.errors.append(f"{where}: split {raw['split']!r} is not dev or test")
                continue
            try:
                q = Question.model_validate(raw)
            except ValidationError as exc:
                result.errors.append(
                    f"{where}: {exc.error_count()} invalid field(s): {exc.errors()[0]['msg']}"
                )
                continue
            if q.id in seen:
                result.errors.append(f"{where}: duplicate id {q.id!r}")
                continue
            seen.add(q.id)
            if not q.question.strip():
                result.errors.append(f"{q.id}: empty question")
            if any(not isinstance(a, str) or not a.strip() for a in q.answers):
                result.errors.append(f"{q.id}: empty answer string")
            result.questions.append(q)


def _check_evidence(q: Question, texts: _Texts, result: Validation) -> None:
    if q.kind == "unanswerable" and q.answers:
        result.errors.append(f"{q.id}: kind unanswerable but has answers")
    if q.answerable and not q.evidence:
        result.errors.append(f"{q.id}: answerable but no evidence")
    readable: list[str] = []
    sources = [s for s in q.sources if s] if not q.evidence else q.sources  # no evidence: no source needed
    for source in sources:
        text = texts.get(source)
        if text is None:
            result.errors.append(f"{q.id}: source {source!r} is not a file under documents/")
        elif isinstance(text, ReadProblem):
            if "unsupported format" in text.reason:
                readable.append(source)  # not checkable yet: no reader for its format
            else:
                result.errors.append(f"{q.id}: source {source!r} cannot be read: {text.reason}")
        else:
            readable.append(source)
    checkable = [s for s in readable if isinstance(texts.get(s), str)]
    for evidence in q.evidence:
        if not evidence.strip():
            result.errors.append(f"{q.id}: empty evidence string")
            continue
        if any(find_evidence(str(texts.get(s)), evidence, exact=is_text_format(s)) for s in checkable):
            continue
        if len(checkable) < len(readable):
            result.unchecked += 1
            continue
        result.errors.append(f"{q.id}: evidence not found in {', '.join(q.sources)}: {evidence[:60]!r}…")
    if q.evidence and q.answers:
        joined = " \n ".join(q.evidence)
        if not any(answer_in_text(answer, joined) for answer in q.answers):
            result.errors.append(f"{q.id}: none of its {len(q.answers)} answer(s) occurs in its evidence")


def _near_duplicates(questions: Sequence[Question], result: Validation) -> None:
    words = [(q, set(normalize_text(q.question).split())) for q in questions]
    for i, (a, wa) in enumerate(words):
        for b, wb in words[i + 1 :]:
            same = normalize_text(a.question) == normalize_text(b.question)
            jaccard = len(wa & wb) / len(wa | wb) if wa | wb else 0.0
            if not (same or jaccard >= NEAR_DUPLICATE):
                continue
            message = f"{a.id} and {b.id} are near-duplicates ({jaccard:.2f} of their words shared)"
            if a.split != b.split:
                result.errors.append(message + f": one is {a.split}, the other {b.split}")
            else:
                result.warnings.append(message)


def validate(
    corpus_dir: Path,
    questions_path: Path | None = None,
    *,
    min_unanswerable: float = MIN_UNANSWERABLE,
    min_paraphrase: float = MIN_PARAPHRASE,
) -> Validation:
    """Check the question file of a corpus folder (one holding `documents/`); see the module docstring."""
    result = Validation()
    path = questions_path or corpus_dir / "questions.jsonl"
    root = corpus_dir / "documents"
    if not root.is_dir():
        result.errors.append(f"{corpus_dir}: no documents/ folder")
        return result
    if not path.is_file():
        result.errors.append(f"{path}: no such question file")
        return result
    _parse(path, result)
    if not result.questions:
        result.errors.append(f"{path}: no questions")
        return result
    texts = _Texts(root)
    for q in result.questions:
        _check_evidence(q, texts, result)
    _near_duplicates(result.questions, result)
    qs = result.questions
    result.unanswerable_share = sum(not q.answerable for q in qs) / len(qs)
    answerable = [q for q in qs if q.answerable]
    result.paraphrase_share = sum(map(is_paraphrase, answerable)) / len(answerable) if answerable else 0.0
    if result.unanswerable_share < min_unanswerable:
        result.errors.append(
            f"{result.unanswerable_share:.0%} of questions are unanswerable (at least {min_unanswerable:.0%})"
        )
    if result.paraphrase_share < min_paraphrase:
        result.errors.append(
            f"{result.paraphrase_share:.0%} of answerable questions paraphrased (no {SHARED_RUN}-word run "
            f"shared with the evidence; at least {min_paraphrase:.0%})"
        )
    if len(qs) < MIN_QUESTIONS:
        result.warnings.append(
            f"{len(qs)} questions (at least {MIN_QUESTIONS} per corpus once both splits exist)"
        )
    if result.unchecked:
        result.warnings.append(
            f"{result.unchecked} evidence string(s) in formats no reader handles yet: not checkable yet"
        )
    return result


def render(result: Validation, name: str) -> str:
    """Counts by kind and split, the measured shares, then warnings and errors."""
    qs = result.questions
    lines = [f"{name}: {len(qs)} questions"]
    by: Counter[tuple[str, str]] = Counter((str(q.kind), str(q.split)) for q in qs)
    lines.append("kind          dev  test")
    for kind in KINDS:
        if by[(kind, "dev")] or by[(kind, "test")]:
            lines.append(f"{kind:<12} {by[(kind, 'dev')]:>4} {by[(kind, 'test')]:>5}")
    for split in ("dev", "test"):
        part = [q for q in qs if q.split == split]
        if part:
            unans = sum(not q.answerable for q in part) / len(part)
            ans = [q for q in part if q.answerable]
            para = sum(map(is_paraphrase, ans)) / len(ans) if ans else 0.0
            lines.append(f"{split}: {len(part)} questions, {unans:.0%} unanswerable, {para:.0%} paraphrased")
    lines.append(
        f"all: {result.unanswerable_share:.0%} unanswerable, {result.paraphrase_share:.0%} of answerable "
        f"questions paraphrased"
    )
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [f"error: {e}" for e in result.errors]
    lines.append("OK" if result.ok else f"{len(result.errors)} error(s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verbatim.evals.validate_questions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("corpus", type=Path, nargs="+", help="corpus folder(s), e.g. evals/corpora/techdocs")
    parser.add_argument("--questions", type=Path, help="another question file (one corpus only)")
    parser.add_argument("--min-unanswerable", type=float, default=MIN_UNANSWERABLE)
    parser.add_argument("--min-paraphrase", type=float, default=MIN_PARAPHRASE)
    args = parser.parse_args(argv)
    if args.questions and len(args.corpus) > 1:
        parser.error("--questions goes with one corpus folder")
    ok = True
    for folder in args.corpus:
        result = validate(
            folder, args.questions, min_unanswerable=args.min_unanswerable, min_paraphrase=args.min_paraphrase
        )
        print(render(result, folder.name))
        ok &= result.ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

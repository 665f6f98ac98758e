"""How much the cleaner drops, per rule and corpus, and a check that it never drops content.

    python -m verbatim.evals.cleaning_report [--corpus DIR]...

For every corpus (default: each `evals/corpora/*/documents`) it reads every file with the ingest
readers, cleans it exactly as ingest does, and prints the characters dropped per rule and their share
of the corpus. It fails (exit 1) when a dropped span touches a heading of the reader's structure, or,
where a `questions.jsonl` lies beside `documents/`, when every occurrence of a gold `evidence` string
lies (partly) in a dropped span. Files no reader can read are listed with the reason, not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from verbatim.ingest.cleaner import Dropped, clean
from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats import read_document
from verbatim.ingest.reader import ReadProblem, discover

CORPORA = Path(__file__).resolve().parent / "corpora"


@dataclass
class CorpusReport:
    """Dropped characters per rule of one corpus, and the violations found."""

    name: str
    chars: int = 0
    files: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    unread: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        total = sum(self.dropped.values())
        share = total / self.chars if self.chars else 0.0
        out = [f"{self.name}: {self.files} files, {self.chars:,} chars, dropped {total:,} ({share:.2%})"]
        for rule, chars in self.dropped.most_common():
            out.append(f"  {rule}: {chars:,} ({chars / self.chars:.2%})")
        out += [f"  not read: {u}" for u in self.unread]
        out += [f"  VIOLATION {v}" for v in self.violations]
        return out


def _overlaps(spans: list[Dropped], starts: list[int], start: int, end: int) -> Dropped | None:
    """The dropped span overlapping [start, end), if any (spans sorted and disjoint)."""
    i = bisect_right(starts, start) - 1
    for span in spans[max(i, 0) : max(i, 0) + 2 + (end - start)]:
        if span.start < end and start < span.end:
            return span
        if span.start >= end:
            break
    return None


def _evidence(documents: Path) -> dict[str, list[tuple[str, str]]]:
    """source → [(question id, evidence string)] from the questions.jsonl beside `documents/`."""
    path = documents.parent / "questions.jsonl"
    found: dict[str, list[tuple[str, str]]] = {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        question = json.loads(line)
        sources = question.get("source") or []
        for source in [sources] if isinstance(sources, str) else sources:
            for evidence in question.get("evidence") or []:
                found.setdefault(source, []).append((str(question.get("id")), evidence))
    return found


def check_document(doc: ParsedDocument, evidence: list[tuple[str, str]], report: CorpusReport) -> None:
    result = clean(doc.text, doc.blocks)
    report.files += 1
    report.chars += len(doc.text)
    report.dropped.update(result.dropped_chars())
    spans = sorted(result.dropped, key=lambda d: d.start)
    starts = [d.start for d in spans]
    for block in doc.blocks:
        if block.kind == "heading":
            hit = _overlaps(spans, starts, block.start, block.end)
            if hit is not None:
                heading = doc.text[block.start : block.end]
                report.violations.append(f"{doc.source}: heading {heading!r} dropped ({hit.reason})")
    for qid, text in evidence:
        at = doc.text.find(text)
        if at < 0:
            continue  # not a verbatim span of this document: the question set's own check reports it
        occurrences = []
        while at >= 0:
            occurrences.append(at)
            at = doc.text.find(text, at + 1)
        hits = [_overlaps(spans, starts, a, a + len(text)) for a in occurrences]
        if all(h is not None for h in hits):
            reason = hits[0].reason if hits[0] else ""
            report.violations.append(f"{doc.source}: evidence of {qid} dropped ({reason}): {text[:60]!r}")


def report_corpus(documents: Path, name: str) -> CorpusReport:
    report = CorpusReport(name)
    evidence = _evidence(documents)
    for path in discover([documents], documents):
        loaded = read_document(path, documents)
        if isinstance(loaded, ReadProblem):
            report.unread.append(f"{loaded.source}: {loaded.reason}")
            continue
        check_document(loaded, evidence.get(loaded.source, []), report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cleaning_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", type=Path, help="a documents folder (repeatable)")
    args = parser.parse_args(argv)
    folders = args.corpus or sorted(p for p in CORPORA.glob("*/documents") if p.is_dir())
    failed = False
    for folder in folders:
        name = folder.parent.name if folder.name == "documents" else folder.name
        report = report_corpus(folder, name)
        print("\n".join(report.lines()))
        failed = failed or bool(report.violations)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

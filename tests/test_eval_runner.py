"""`verbatim eval` over several small synthetic corpora: per-corpus reports, the worst corpus named,
naive baselines beside the system, the per-corpus gate and leave-one-corpus-out fitting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verbatim.evals import runner, suite

DOCS = {
    "alpha": (
        "ports.txt",
        "Ports of the Caspian\n\nThe port of Aktau received a loan of 40 million dollars in 2023.\n"
        "The port of Baku handles grain and oil shipments every week.\n\n"
        "Rail links\n\nA new rail link connects Aktau with the border town of Zhetybai.\n",
    ),
    "beta": (
        "tools.md",
        "# Archive tool\n\nThe tar command creates archives. The option --gzip compresses the archive.\n\n"
        "## Listing\n\nUse the option --list to show the contents of an archive without extracting it.\n",
    ),
}
QUESTIONS = {
    "alpha": [
        (
            "a1",
            "How large was the loan the port of Aktau received?",
            ["40 million"],
            ["The port of Aktau received a loan of 40 million dollars in 2023."],
        ),
        (
            "a2",
            "Which goods does Baku handle?",
            ["grain"],
            ["The port of Baku handles grain and oil shipments every week."],
        ),
        (
            "a3",
            "What does the new rail link connect Aktau with?",
            ["Zhetybai"],
            ["A new rail link connects Aktau with the border town of Zhetybai."],
        ),
        ("a4", "Who is the mayor of Aktau?", [], []),
        ("a5", "What causes the northern lights?", [], []),
    ],
    "beta": [
        (
            "b1",
            "Which option compresses the archive?",
            ["--gzip"],
            ["The option --gzip compresses the archive."],
        ),
        (
            "b2",
            "How do I see what is in an archive without extracting it?",
            ["--list"],
            ["Use the option --list to show the contents of an archive without extracting it."],
        ),
        ("b3", "What does the tar command create?", ["archives"], ["The tar command creates archives."]),
        ("b4", "Which version of tar added zstd support?", [], []),
        ("b5", "What is the boiling point of water on Mars?", [], []),
    ],
}


@pytest.fixture()
def corpora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "corpora"
    for name, (doc, text) in DOCS.items():
        (root / name / "documents").mkdir(parents=True)
        (root / name / "documents" / doc).write_text(text, encoding="utf-8", newline="")
        rows = [
            {
                "id": qid,
                "question": q,
                "answers": a,
                "evidence": e,
                "source": doc,
                "kind": "fact" if a else "unanswerable",
                "split": "dev",
            }
            for qid, q, a, e in QUESTIONS[name]
        ]
        (root / name / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "empty" / "documents").mkdir(parents=True)  # a corpus without questions is not run
    monkeypatch.setattr(suite, "CORPORA", root)
    return tmp_path


def test_all_corpora_reports_worst_baselines_and_gate(
    corpora: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports, data = corpora / "reports", corpora / "data"
    gate = corpora / "gate.toml"
    gate.write_text("[min]\nquote_exactness = 1.0\n[corpus.beta.min]\nanswer_hit_rate = 1.01\n")
    argv = [
        "--all-corpora",
        "--set",
        "dev",
        "--compare",
        "--reports",
        str(reports),
        "--data-root",
        str(data),
        "--thresholds",
        str(gate),
    ]
    assert runner.main([*argv, "--gate"]) == 1  # beta cannot reach an answer hit rate above 1
    out = capsys.readouterr().out
    assert "beta: below thresholds" in out and "alpha: below thresholds" not in out
    summary = json.loads((reports / "eval-dev.json").read_text())
    assert set(summary["corpora"]) == {"alpha", "beta"}
    assert summary["worst"]["answer_hit_rate"][0] in {"alpha", "beta"}
    for name in ("alpha", "beta"):
        one = json.loads((reports / f"eval-{name}-dev.json").read_text())
        assert one["system"]["n_questions"] == 5
        assert set(one["baselines"]) == {"bm25-1000", "dense-1000"}
        assert one["system"]["metrics"]["quote_exactness"]["value"] == 1.0
        assert one["system"]["calibration"]["n"] == 5 and len(one["system"]["calibration"]["bins"]) == 10
        assert "## Calibration" in (reports / f"eval-{name}-dev.md").read_text()
    table = (reports / "eval-dev.md").read_text()
    assert (
        "| metric | alpha | beta | worst | mean |" in table and "retrieval against naive baselines" in table
    )
    # the second run reuses both indexes: nothing is embedded again
    assert runner.main(argv) == 0
    assert capsys.readouterr().out.count("(0 indexed, 1 unchanged, 0 removed, 0 skipped)") == 2
    assert (data / "alpha").is_dir() and (data / "beta").is_dir()


def test_loco_fits_without_the_scored_corpus(corpora: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from verbatim.service.qa.answer_model import MODEL_FILE

    before = MODEL_FILE.read_text()
    reports = corpora / "reports"
    argv = ["--all-corpora", "--loco", "--reports", str(reports), "--data-root", str(corpora / "data")]
    assert runner.main(argv) == 0
    out = capsys.readouterr().out
    assert "LOCO alpha: fitting on beta" in out and "LOCO beta: fitting on alpha" in out
    assert json.loads((reports / "eval-dev-loco.json").read_text())["loco"] is True
    assert (reports / "eval-alpha-dev-loco.md").exists()
    assert MODEL_FILE.read_text() == before  # fitted in memory only


def test_argument_errors(corpora: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--corpus", "nope"],
        ["--corpus", "empty"],
        ["--corpus", "alpha", "--corpus", "beta", "--url", "http://x"],
        ["--corpus", "alpha", "--loco"],
    ):
        with pytest.raises(SystemExit):
            runner.main(argv)

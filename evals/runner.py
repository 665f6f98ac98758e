"""`verbatim eval`: ask every question (in-process or over HTTP), score, report, gate.

In-process runs build a fresh index of the seeds in a temporary data dir (fully offline and
reproducible) and ask through the real FastAPI app, so the service is scored as a user meets it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from verbatim.evals.scoring import (
    EvalReport,
    Question,
    Thresholds,
    load_questions,
    render_markdown,
    score_run,
)

EVALS = Path(__file__).resolve().parent
REPO = EVALS.parent
QUESTIONS = EVALS / "questions.jsonl"
HEADLINE = [
    "evidence_recall_at_5",
    "mrr",
    "ndcg_at_10",
    "answer_hit_rate",
    "token_f1",
    "quote_exactness",
    "citation_precision",
    "citation_recall",
    "quote_coverage",
    "unsupported_sentence_rate",
    "abstention_precision",
    "abstention_recall",
    "false_abstention_rate",
]
COMPARE_MODES = ("dense", "lexical", "hybrid")


def _payload(q: Question, top_k: int, backend: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"question": q.question, "top_k": top_k}
    if backend:
        body["backend"] = backend
    return body


async def ask_over_http(
    url: str,
    questions: Sequence[Question],
    *,
    top_k: int,
    backend: str | None,
    concurrency: int,
    timeout: float,
    retries: int,
    api_key: str | None,
) -> dict[str, Any]:
    """POST /ask for every question; retries only on connection errors (never on an answer)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limit = asyncio.Semaphore(max(1, concurrency))
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, headers=headers) as client:

        async def one(q: Question) -> None:
            async with limit:
                for attempt in range(retries + 1):
                    try:
                        response = await client.post("/ask", json=_payload(q, top_k, backend))
                        break
                    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                        if attempt == retries:
                            out[q.id] = {"error": "connection failed"}
                            return
                        await asyncio.sleep(0.5 * 2**attempt)
                    except httpx.TimeoutException:
                        out[q.id] = {"error": f"timed out after {timeout}s"}
                        return
                out[q.id] = (
                    response.json()
                    if response.status_code == 200
                    else {"error": f"HTTP {response.status_code}: {response.text[:200]}"}
                )

        await asyncio.gather(*(one(q) for q in questions))
    return out


def ask_in_process(
    questions: Sequence[Question],
    *,
    top_k: int,
    backend: str | None,
    data_dir: Path,
    modes: Sequence[str] = ("hybrid",),
) -> dict[str, dict[str, Any]]:
    """Index the seeds in `data_dir` and answer through the app (and, for --compare, each retrieval mode)."""
    from fastapi.testclient import TestClient

    from verbatim.service.api.app import create_app
    from verbatim.service.qa.engine import Engine
    from verbatim.service.qa.schemas import AskRequest
    from verbatim.settings import Settings, get_settings

    base = get_settings()
    settings = Settings(
        **{
            **base.model_dump(),
            "data_dir": data_dir,
            "corpus_dir": REPO / "seeds",
            "chroma_url": None,
            "api_keys": None,
            "rate_limit": None,
            "log_level": "WARNING",
        }
    )
    engine = Engine(settings)
    engine.start()
    results: dict[str, dict[str, Any]] = {}
    try:
        with TestClient(create_app(settings, engine=engine, start=False)) as client:
            for mode in modes:
                answers: dict[str, Any] = {}
                for q in questions:
                    if mode == "hybrid":
                        response = client.post("/ask", json=_payload(q, top_k, backend))
                        answers[q.id] = (
                            response.json()
                            if response.status_code == 200
                            else {"error": f"HTTP {response.status_code}"}
                        )
                    else:
                        request = AskRequest(question=q.question, top_k=top_k)
                        answers[q.id] = engine.ask(request, mode=mode).model_dump()  # type: ignore[arg-type]
                results[mode] = answers
    finally:
        engine.stop()
    return results


def backend_summary(answers: dict[str, Any]) -> dict[str, Any]:
    """What the answering backend did: answers by backend, fallbacks (a warning), quotes the model
    wrote that verification dropped, and transport errors."""
    ok = [a for a in answers.values() if isinstance(a, dict) and "error" not in a]
    by_backend: dict[str, int] = {}
    for a in ok:
        by_backend[str(a.get("backend"))] = by_backend.get(str(a.get("backend")), 0) + 1
    return {
        "answers_by_backend": by_backend,
        "fallbacks": sum(1 for a in ok if a.get("warning")),
        "dropped_quotes": sum(int(a.get("dropped_quotes") or 0) for a in ok),
        "answers_with_dropped_quotes": sum(1 for a in ok if a.get("dropped_quotes")),
        "errors": len(answers) - len(ok),
    }


def summary_table(reports: dict[str, EvalReport], names: Sequence[str] = HEADLINE) -> str:
    """Markdown table: one row per metric, one column per run, value and 95% CI."""
    cols = list(reports)
    lines = ["| metric | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name in names:
        cells = []
        for col in cols:
            m = reports[col].metrics.get(name)
            if m is None or m.value is None:
                cells.append("—")
            else:
                cells.append(
                    f"{m.value:.3f} [{m.ci_low:.2f}, {m.ci_high:.2f}]"
                    if m.ci_low is not None
                    else f"{m.value:.3f}"
                )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verbatim eval", description=__doc__)
    parser.add_argument("--url", help="score a running server over HTTP instead of in-process")
    parser.add_argument("--set", dest="split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--backend", choices=["extractive", "llm"])
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--api-key", help="bearer token for --url (default: first of VERBATIM_API_KEYS)")
    parser.add_argument("--compare", action="store_true", help="dense vs BM25 vs hybrid, side by side")
    parser.add_argument("--data-dir", type=Path, help="in-process index location (default: a temp dir)")
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--thresholds", type=Path, help="gate file (default evals/thresholds.toml)")
    parser.add_argument("--no-gate", action="store_true", help="report only; exit 0 below thresholds")
    args = parser.parse_args(argv)

    questions = load_questions(args.questions, args.split)
    started = time.perf_counter()
    if args.url:
        from verbatim.settings import get_settings

        keys = get_settings().api_key_list()
        responses = {
            "hybrid": asyncio.run(
                ask_over_http(
                    args.url,
                    questions,
                    top_k=args.top_k,
                    backend=args.backend,
                    concurrency=args.concurrency,
                    timeout=args.timeout,
                    retries=args.retries,
                    api_key=args.api_key or (keys[0] if keys else None),
                )
            )
        }
    else:
        modes = COMPARE_MODES if args.compare else ("hybrid",)
        with tempfile.TemporaryDirectory(prefix="verbatim-eval-") as tmp:
            responses = ask_in_process(
                questions,
                top_k=args.top_k,
                backend=args.backend,
                data_dir=args.data_dir or Path(tmp),
                modes=modes,
            )
    reports = {mode: score_run(questions, answers, REPO / "seeds") for mode, answers in responses.items()}
    report = reports["hybrid"]
    seconds = time.perf_counter() - started

    args.reports.mkdir(parents=True, exist_ok=True)
    stem = f"eval-{args.split}" + ("-compare" if args.compare else "")
    backend = backend_summary(responses["hybrid"])
    (args.reports / f"{stem}.json").write_text(
        json.dumps(
            {"backend": backend, **{mode: json.loads(r.to_json()) for mode, r in reports.items()}},
            ensure_ascii=False,
            indent=1,
        )
    )
    markdown = render_markdown(report) + f"\n\n## Backend\n\n{json.dumps(backend)}\n"
    if args.compare:
        markdown = "## Retrieval configurations\n\n" + summary_table(reports) + "\n\n" + markdown
    (args.reports / f"{stem}.md").write_text(markdown)

    print(
        f"{len(questions)} questions ({args.split} split) in {seconds:.1f}s; "
        f"reports in {args.reports}/{stem}.*"
    )
    print(summary_table(reports))
    print(
        f"\nbackend: {backend['answers_by_backend']}; fallbacks to extractive {backend['fallbacks']}; "
        f"model quotes dropped by verification {backend['dropped_quotes']} "
        f"(in {backend['answers_with_dropped_quotes']} answers); transport errors {backend['errors']}"
    )
    failures = Thresholds.load(args.thresholds).check(report)
    if failures:
        print("\nBelow thresholds:\n" + "\n".join(f"- {f}" for f in failures))
        return 0 if args.no_gate else 1
    print("\nAll thresholds met.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`verbatim eval`: ask every question of one or more corpora (in-process or over HTTP), score, report, gate.

In-process, each corpus (`evals/corpora/<name>/documents/`) is ingested into its own data dir
(`reports/eval-data/<name>` unless `--data-root`; incremental, so unchanged documents cost nothing) and
asked through the real FastAPI app, so the service is scored as a user meets it. Reports per corpus
(markdown + JSON, 95% bootstrap CIs, calibration), then one table across corpora naming the worst
corpus for every metric. `--compare` adds plain BM25 and dense baselines over naive 1,000-character
chunks; `--loco` scores every corpus with the answering weights fitted on the other corpora's dev
splits only. The default split is dev: test splits are for closing notes (evals/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from verbatim.evals.baselines import NaiveIndex, baseline_responses, naive_windows
from verbatim.evals.scoring import (
    Corpus,
    EvalReport,
    Question,
    Thresholds,
    load_questions,
    render_markdown,
    score_run,
)
from verbatim.evals.suite import (
    LEGACY_QUESTIONS,
    REPO,
    EvalCorpus,
    OpenCorpus,
    all_corpora,
    corpus_named,
    open_corpus,
)

QUESTIONS = LEGACY_QUESTIONS  # the seed questions written with the system (`--questions` uses them)
HEADLINE = [
    "evidence_recall_at_5",
    "mrr",
    "ndcg_at_10",
    "answer_hit_rate",
    "token_f1",
    "quote_exactness",
    "quote_cut_rate",
    "citation_precision",
    "citation_recall",
    "quote_coverage",
    "unsupported_sentence_rate",
    "highlight_hit_rate",
    "hedged_rate",
    "abstention_precision",
    "abstention_recall",
    "false_abstention_rate",
    "ece",
]
RETRIEVAL = ["evidence_recall_at_5", "mrr", "ndcg_at_10"]
LOWER_IS_BETTER = {
    "quote_cut_rate",
    "unsupported_sentence_rate",
    "false_abstention_rate",
    "ece",
    "hedged_rate",
}


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


def served_over_http(url: str, root: Path, api_key: str | None, timeout: float) -> Corpus:
    """The scorer's corpus for a server: converted formats as `GET /documents/{source}` serves them."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def served(source: str) -> str | None:
        try:
            r = httpx.get(f"{url.rstrip('/')}/documents/{source}", headers=headers, timeout=timeout)
        except httpx.HTTPError:
            return None
        return str(r.json()["text"]) if r.status_code == 200 else None

    return Corpus(root, served=served)


def ask_in_process(
    opened: OpenCorpus, questions: Sequence[Question], *, top_k: int, backend: str | None
) -> dict[str, Any]:
    """Answer every question through the app over the corpus's started engine."""
    from fastapi.testclient import TestClient

    from verbatim.service.api.app import create_app

    answers: dict[str, Any] = {}
    with TestClient(create_app(opened.engine.settings, engine=opened.engine, start=False)) as client:
        for q in questions:
            response = client.post("/ask", json=_payload(q, top_k, backend))
            answers[q.id] = (
                response.json() if response.status_code == 200 else {"error": f"HTTP {response.status_code}"}
            )
    return answers


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


# --------------------------------------------------------------------------- tables


def metric_value(report: EvalReport, name: str) -> tuple[float | None, float | None, float | None]:
    """(value, CI low, CI high) of a metric, ECE included (it lives in the calibration)."""
    if name == "ece":
        cal = report.calibration
        return cal.ece, cal.ece_ci_low, cal.ece_ci_high
    m = report.metrics.get(name)
    return (None, None, None) if m is None else (m.value, m.ci_low, m.ci_high)


def _cell(report: EvalReport, name: str) -> str:
    value, low, high = metric_value(report, name)
    if value is None:
        return "—"
    return f"{value:.3f} [{low:.2f}, {high:.2f}]" if low is not None and high is not None else f"{value:.3f}"


def summary_table(reports: dict[str, EvalReport], names: Sequence[str] = HEADLINE) -> str:
    """Markdown: one row per metric, one column per run, value and 95% CI."""
    cols = list(reports)
    lines = ["| metric | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_cell(reports[c], name) for c in cols) + " |")
    return "\n".join(lines)


def worst(reports: dict[str, EvalReport], name: str) -> tuple[str, float] | None:
    """The corpus with the worst value of a metric (lowest, or highest for an error rate)."""
    values = [(c, v) for c, r in reports.items() if (v := metric_value(r, name)[0]) is not None]
    if not values:
        return None
    pick = max if name in LOWER_IS_BETTER else min
    return pick(values, key=lambda cv: cv[1])


def across_corpora(reports: dict[str, EvalReport], names: Sequence[str] = HEADLINE) -> str:
    """The per-corpus table with the worst corpus named for every metric (and the mean beside it)."""
    cols = list(reports)
    lines = [
        "| metric | " + " | ".join(cols) + " | worst | mean |",
        "|---|" + "---|" * (len(cols) + 2),
    ]
    for name in names:
        w = worst(reports, name)
        values = [v for r in reports.values() if (v := metric_value(r, name)[0]) is not None]
        worst_cell = "—" if w is None else f"**{w[1]:.3f}** ({w[0]})"
        mean = f"{sum(values) / len(values):.3f}" if values else "—"
        cells = " | ".join(_cell(reports[c], name) for c in cols)
        lines.append(f"| {name} | {cells} | {worst_cell} | {mean} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- one corpus


@dataclass
class CorpusRun:
    """Everything one corpus produced in a run."""

    corpus: str
    questions: int
    report: EvalReport
    backend: dict[str, Any]
    baselines: dict[str, EvalReport] = field(default_factory=dict)
    ingest_seconds: float | None = None
    ask_seconds: float = 0.0
    ingest_summary: str = ""

    def markdown(self, split: str, label: str = "") -> str:
        head = f"# {self.corpus}{label}: {self.questions} questions ({split})\n\n"
        if self.ingest_seconds is not None:
            head += f"Ingest {self.ingest_seconds:.1f} s, questions {self.ask_seconds:.1f} s.\n\n"
        text = head + render_markdown(self.report).replace("# Verbatim eval report\n\n", "", 1)
        if self.baselines:
            runs = {"system": self.report, **self.baselines}
            text += "\n## Retrieval against naive baselines (1,000-character chunks)\n\n"
            text += summary_table(runs, RETRIEVAL) + "\n"
        return text + f"\n## Backend\n\n{json.dumps(self.backend)}\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "ingest_seconds": self.ingest_seconds,
            "ask_seconds": self.ask_seconds,
            "backend": self.backend,
            "system": json.loads(self.report.to_json()),
            "baselines": {name: json.loads(r.to_json()) for name, r in self.baselines.items()},
        }


def _baselines(questions: Sequence[Question], texts: Corpus, root: Path, k: int) -> dict[str, EvalReport]:
    """Score the naive baselines with as many passages as the system returns (a fair nDCG@10)."""
    from verbatim.ingest.index.embedder import load_encoder
    from verbatim.ingest.reader import discover, source_name
    from verbatim.settings import get_settings

    sources = [source_name(p, root) for p in discover([root], root)]
    encoder = load_encoder(get_settings(), purpose="query")
    index = NaiveIndex(naive_windows(texts, sources), encoder)
    return {
        name: score_run(questions, answers, texts)
        for name, answers in baseline_responses(index, questions, k).items()
    }


def run_one(opened: OpenCorpus, questions: Sequence[Question], args: argparse.Namespace) -> CorpusRun:
    started = time.perf_counter()
    answers = ask_in_process(opened, questions, top_k=args.top_k, backend=args.backend)
    asked = time.perf_counter() - started
    report = score_run(questions, answers, opened.texts)
    baselines = _baselines(questions, opened.texts, opened.corpus.root, args.top_k) if args.compare else {}
    return CorpusRun(
        opened.corpus.name,
        len(questions),
        report,
        backend_summary(answers),
        baselines,
        opened.ingest_seconds,
        asked,
        opened.ingest_summary,
    )


def run_url(corpus: EvalCorpus, questions: Sequence[Question], args: argparse.Namespace) -> CorpusRun:
    from verbatim.settings import get_settings

    keys = get_settings().api_key_list()
    key = args.api_key or (keys[0] if keys else None)
    started = time.perf_counter()
    answers = asyncio.run(
        ask_over_http(
            args.url,
            questions,
            top_k=args.top_k,
            backend=args.backend,
            concurrency=args.concurrency,
            timeout=args.timeout,
            retries=args.retries,
            api_key=key,
        )
    )
    asked = time.perf_counter() - started
    texts = served_over_http(args.url, corpus.root, key, args.timeout)
    report = score_run(questions, answers, texts)
    baselines = _baselines(questions, texts, corpus.root, args.top_k) if args.compare else {}
    return CorpusRun(corpus.name, len(questions), report, backend_summary(answers), baselines, None, asked)


# --------------------------------------------------------------------------- leave one corpus out


def run_loco(
    opened: dict[str, OpenCorpus], questions: dict[str, list[Question]], args: argparse.Namespace
) -> dict[str, CorpusRun]:
    """For each corpus: choose the fusion and fit the answer model on the other corpora's dev splits (in
    memory, `tune.choose_fusion` and `tune.fit`), then score it."""
    from verbatim.evals.tune import choose_fusion, fit, gather

    saved = {name: o.engine.answerer.model for name, o in opened.items()}
    fusions = {name: o.engine.retriever.config for name, o in opened.items()}
    runs: dict[str, CorpusRun] = {}
    for held_out, target in opened.items():
        others = {name: o.engine for name, o in opened.items() if name != held_out}
        print(f"\nLOCO {held_out}: fitting on {', '.join(others)} (dev splits)")
        dev = {name: load_questions(opened[name].corpus.questions, "dev") for name in others}
        fusion = choose_fusion(others, lambda line: print(f"  {line}"), dev)  # set on the others' engines
        items = [item for name, engine in others.items() for item in gather(name, engine, dev[name])]
        model = fit(others, items, log=lambda line: print(f"  {line}"))
        for name, o in opened.items():  # fitting leaves other models and fusions in the engines
            o.engine.answerer.model = saved[name]
            o.engine.retriever.config = fusions[name]
        target.engine.answerer.model = model
        target.engine.retriever.config = fusion
        try:
            runs[held_out] = run_one(target, questions[held_out], args)
        finally:
            target.engine.answerer.model = saved[held_out]
            target.engine.retriever.config = fusions[held_out]
    return runs


# --------------------------------------------------------------------------- main


def _choose_corpora(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[EvalCorpus]:
    try:
        return _chosen(args, parser)
    except ValueError as exc:  # an unknown corpus name
        parser.error(str(exc))


def _chosen(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[EvalCorpus]:
    if args.all_corpora and args.corpus:
        parser.error("--all-corpora and --corpus do not combine")
    if args.questions:
        if args.all_corpora or len(args.corpus or []) > 1:
            parser.error("--questions is one question file: name at most one --corpus (default seeds)")
        return [corpus_named((args.corpus or ["seeds"])[0], args.questions)]
    if args.corpus:
        chosen = [corpus_named(name) for name in dict.fromkeys(args.corpus)]
        missing = [c.name for c in chosen if not c.has_questions]
        if missing:
            parser.error(f"no questions.jsonl in: {', '.join(missing)} (give one with --questions PATH)")
        return chosen
    chosen = all_corpora()
    if not chosen:
        parser.error(
            "no corpus under evals/corpora has a questions.jsonl yet; "
            f"name one with --corpus NAME --questions PATH (e.g. {LEGACY_QUESTIONS.relative_to(REPO)})"
        )
    return chosen


@contextmanager
def _opened(corpora: Sequence[EvalCorpus], data_root: Path) -> Iterator[dict[str, OpenCorpus]]:
    with ExitStack() as stack:
        out = {}
        for c in corpora:
            print(f"ingesting {c.name} into {data_root / c.name} …", flush=True)
            try:
                out[c.name] = stack.enter_context(open_corpus(c, data_root / c.name))
            except Exception as exc:  # the corpus cannot be scored at all: say which and why, then stop
                raise SystemExit(f"verbatim eval: ingest of corpus {c.name!r} failed: {exc}") from exc
            first = out[c.name].ingest_summary.splitlines()[0] if out[c.name].ingest_summary else ""
            print(f"  {first} ({out[c.name].ingest_seconds:.1f} s)", flush=True)
        yield out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verbatim eval", description=__doc__)
    parser.add_argument(
        "--corpus", action="append", metavar="NAME", help="a corpus under evals/corpora (repeatable)"
    )
    parser.add_argument("--all-corpora", action="store_true", help="every corpus that has a questions.jsonl")
    parser.add_argument("--set", dest="split", choices=["dev", "test", "all"], default="dev")
    parser.add_argument(
        "--questions", type=Path, help="another question file for the one corpus (default seeds)"
    )
    parser.add_argument("--url", help="score a running server (whose corpus is the one --corpus) over HTTP")
    parser.add_argument("--backend", choices=["extractive", "llm"])
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--api-key", help="bearer token for --url (default: first of VERBATIM_API_KEYS)")
    parser.add_argument(
        "--compare", action="store_true", help="add plain BM25 and dense over 1,000-char chunks"
    )
    parser.add_argument(
        "--loco", action="store_true", help="score each corpus fitted on the others' dev splits"
    )
    parser.add_argument(
        "--data-root", type=Path, help="where each corpus is indexed (default reports/eval-data)"
    )
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--thresholds", type=Path, help="gate file (default evals/thresholds.toml)")
    parser.add_argument("--gate", action="store_true", help="exit 1 when a corpus is below its thresholds")
    parser.add_argument("--no-gate", action="store_true", help="report only (the default; kept for scripts)")
    args = parser.parse_args(argv)

    corpora = _choose_corpora(args, parser)
    if args.url and (len(corpora) != 1 or args.loco):
        parser.error(
            "--url scores the one corpus the server serves: name exactly one --corpus, without --loco"
        )
    if args.loco and len(corpora) < 2:
        parser.error("--loco needs at least two corpora with questions")
    if args.split != "dev":
        print(f"note: the {args.split} split is for closing notes only; never tune on it (evals/README.md)")
    questions = {c.name: load_questions(c.questions, args.split) for c in corpora}
    data_root = args.data_root or args.reports / "eval-data"
    started = time.perf_counter()
    with ExitStack() as stack:
        if args.url:
            runs = {corpora[0].name: run_url(corpora[0], questions[corpora[0].name], args)}
        else:
            opened = stack.enter_context(_opened(corpora, data_root))
            if args.loco:
                runs = run_loco(opened, questions, args)
            else:
                runs = {}
                for name, o in opened.items():
                    print(f"asking {len(questions[name])} {args.split} questions of {name} …", flush=True)
                    runs[name] = run_one(o, questions[name], args)
    seconds = time.perf_counter() - started
    return _report(runs, args, seconds)


def _report(runs: dict[str, CorpusRun], args: argparse.Namespace, seconds: float) -> int:
    label = "-loco" if args.loco else ""
    args.reports.mkdir(parents=True, exist_ok=True)
    for name, run in runs.items():
        stem = f"eval-{name}-{args.split}{label}"
        (args.reports / f"{stem}.json").write_text(json.dumps(run.to_json(), ensure_ascii=False, indent=1))
        (args.reports / f"{stem}.md").write_text(
            run.markdown(args.split, " (leave-one-corpus-out)" if args.loco else "")
        )
    reports = {name: run.report for name, run in runs.items()}
    table = across_corpora(reports)
    stem = f"eval-{args.split}{label}"
    summary = {
        "split": args.split,
        "loco": args.loco,
        "seconds": seconds,
        "corpora": {
            n: {"questions": r.questions, "ingest_seconds": r.ingest_seconds, "ask_seconds": r.ask_seconds}
            for n, r in runs.items()
        },
        "worst": {m: w for m in HEADLINE if (w := worst(reports, m)) is not None},
    }
    (args.reports / f"{stem}.json").write_text(json.dumps(summary, indent=1))
    markdown = (
        f"# Eval across corpora ({args.split} split{', leave-one-corpus-out' if args.loco else ''})\n\n"
    )
    markdown += table + "\n"
    if args.compare:
        for name, run in runs.items():
            markdown += f"\n## {name}: retrieval against naive baselines\n\n"
            markdown += summary_table({"system": run.report, **run.baselines}, RETRIEVAL) + "\n"
    (args.reports / f"{stem}.md").write_text(markdown)

    print(
        f"\n{sum(r.questions for r in runs.values())} questions ({args.split} split) over {len(runs)} "
        f"corpora in {seconds:.1f}s; reports in {args.reports}/eval-*-{args.split}{label}.* and {stem}.*"
    )
    print(table)
    for name, run in runs.items():
        b = run.backend
        print(
            f"\n{name}: backend {b['answers_by_backend']}; fallbacks {b['fallbacks']}; model quotes dropped "
            f"by verification {b['dropped_quotes']} (in {b['answers_with_dropped_quotes']} answers); "
            f"transport errors {b['errors']}"
        )
        if run.baselines:
            print(summary_table({"system": run.report, **run.baselines}, RETRIEVAL))
    if not args.gate:
        return 0
    thresholds = Thresholds.load(args.thresholds)
    failed = False
    for name, run in runs.items():
        failures = thresholds.check(run.report, corpus=name)
        if failures:
            failed = True
            print(f"\n{name}: below thresholds\n" + "\n".join(f"- {f}" for f in failures))
    if failed:
        return 1
    print("\nAll thresholds met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

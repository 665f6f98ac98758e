"""The `verbatim` command: ingest, serve, ask, eval, bot, bench."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verbatim.settings import get_settings

if TYPE_CHECKING:
    from verbatim.ingest.pipeline import Progress


def _progress_printer() -> Progress:
    """A progress bar on a terminal, plain lines otherwise."""
    tty = sys.stderr.isatty()

    def progress(source: str, done: int, total: int) -> None:
        if tty:
            width = 30
            filled = int(width * done / max(total, 1))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {source[:40]:<40}")
            if done == total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"ingest {done}/{total} {source}\n")
        sys.stderr.flush()

    return progress


def _ingest_via_server(url: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """Hand the ingest to the running server; None (after a message) when it refuses."""
    import httpx

    from verbatim.cli.handoff import auth_headers

    print(f"verbatim ingest: a server owns this data dir ({url}); ingesting through it", file=sys.stderr)
    paths = [str(Path(p).resolve()) for p in args.paths] or None
    response = httpx.post(
        f"{url}/admin/ingest",
        json={"paths": paths, "dry_run": args.dry_run},
        headers=auth_headers(get_settings()),
        timeout=None,
    )
    if response.status_code != 200:
        print(f"verbatim ingest: {response.json().get('detail', response.text)}", file=sys.stderr)
        return None
    return dict(response.json())


def cmd_ingest(args: argparse.Namespace) -> int:
    from verbatim.cli.handoff import running_server
    from verbatim.ingest.index.lock import IngestBusy
    from verbatim.ingest.pipeline import IngestReport
    from verbatim.ingest.reader import PathOutsideRoot
    from verbatim.ingest.run import run_ingest

    settings = get_settings()
    url = None if settings.chroma_url else running_server(settings)
    if url:
        data = _ingest_via_server(url, args)
        if data is None:
            return 2
        report = IngestReport(**data)
    else:
        from verbatim.cli.preflight import data_dir_problem
        from verbatim.ingest.index.store import IndexUnavailable

        problem = None if args.dry_run else data_dir_problem(settings)
        if problem:
            print(f"verbatim ingest: {problem}", file=sys.stderr)
            return 2
        try:
            report = run_ingest(
                settings,
                [Path(p) for p in args.paths] or None,
                dry_run=args.dry_run,
                wait=args.wait,
                progress=_progress_printer(),
            )
        except (IngestBusy, PathOutsideRoot, FileNotFoundError, IndexUnavailable) as exc:
            print(f"verbatim ingest: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # permissions or a full disk mid-way: a sentence, not a traceback
            print(
                f"verbatim ingest: cannot write the index: {exc.strerror or exc} ({exc.filename or ''})",
                file=sys.stderr,
            )
            return 2
    if args.json:
        print(json.dumps(report.__dict__, indent=2, ensure_ascii=False))
    else:
        if args.dry_run:
            for doc in report.per_document:
                print(
                    f"{doc['source']}: {len(doc['articles'])} articles, {doc['chunks']} chunks, "  # type: ignore[arg-type]
                    f"{doc['kept_chars']} chars kept, dropped {doc['dropped_chars']}"
                )
                for title in doc["articles"]:  # type: ignore[attr-defined]
                    print(f"    - {title}")
        print(report.summary())
    return 2 if _named_but_skipped(settings.corpus_dir, args.paths, report.skipped) else 0


def _named_but_skipped(root: Path, paths: Sequence[str], skipped: list[dict[str, str]]) -> bool:
    """A file named on the command line that could not be read fails the command (the rest is done)."""
    from verbatim.ingest.reader import PathOutsideRoot, source_name

    named = set()
    for p in paths:
        try:
            if Path(p).is_file():
                named.add(source_name(Path(p), root))
        except PathOutsideRoot:
            continue
    return any(s["source"] in named for s in skipped)


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from verbatim.cli.handoff import registered
    from verbatim.cli.preflight import data_dir_problem

    settings = get_settings()
    problem = data_dir_problem(settings)
    if problem:
        print(f"verbatim serve: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.workers > 1 and not settings.chroma_url:
        print(
            "verbatim serve: several workers need a Chroma server (VERBATIM_CHROMA_URL): an embedded "
            "store must have one owner",
            file=sys.stderr,
        )
        return 2
    with registered(settings, args.host, args.port):
        if args.workers > 1:
            uvicorn.run(
                "verbatim.service.api.app:create_app",
                factory=True,
                host=args.host,
                port=args.port,
                workers=args.workers,
                log_level="warning",
            )
        else:
            from verbatim.service.api.app import create_app

            uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from verbatim.cli.handoff import auth_headers, running_server
    from verbatim.cli.render import render_answer_text

    settings = get_settings()
    payload: dict[str, Any] = {"question": args.question, "top_k": args.top_k}
    if args.sources:
        payload["sources"] = args.sources
    if args.backend:
        payload["backend"] = args.backend
    url = args.url or (None if settings.chroma_url else running_server(settings))
    if url:
        import httpx

        try:
            response = httpx.post(
                f"{url.rstrip('/')}/ask", json=payload, headers=auth_headers(settings), timeout=120
            )
        except httpx.HTTPError as exc:
            print(f"verbatim ask: cannot reach {url}: {exc}", file=sys.stderr)
            return 3
        if response.status_code != 200:
            print(f"verbatim ask: {response.status_code}: {response.json().get('detail')}", file=sys.stderr)
            return 2
        data = response.json()
    else:
        from pydantic import ValidationError

        from verbatim.service.qa.engine import BadRequest, Engine
        from verbatim.service.qa.schemas import AskRequest

        try:
            request = AskRequest(**payload)
        except ValidationError as exc:
            print(f"verbatim ask: {exc.errors()[0]['msg']}", file=sys.stderr)
            return 2
        import asyncio

        from verbatim.service.qa.answering import Answering

        engine = Engine(settings)
        engine.start()
        try:
            answering = Answering(settings, engine)
            data = asyncio.run(answering.ask(request, answering.resolve(request.backend))).model_dump()
        except BadRequest as exc:
            print(f"verbatim ask: {exc}", file=sys.stderr)
            return 2
        finally:
            engine.stop()
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(render_answer_text(data, color=sys.stdout.isatty()))
    return 0


def _delegate(module: str, argv: list[str]) -> int:
    """Run another module's `main(argv)` (eval and bench own their flags)."""
    import importlib

    return int(importlib.import_module(module).main(argv) or 0)


def cmd_bot(args: argparse.Namespace) -> int:
    from verbatim.service.bot import BotConfigError, run_bot

    try:
        run_bot(args.host, args.port, get_settings())
    except BotConfigError as exc:
        print(f"verbatim bot: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verbatim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="index files or folders (default: the corpus dir)")
    ingest.add_argument("paths", nargs="*", help="files or folders inside VERBATIM_CORPUS_DIR")
    ingest.add_argument(
        "--dry-run", action="store_true", help="show documents, articles and spans; embed nothing"
    )
    ingest.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for another ingest to finish"
    )
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.set_defaults(func=cmd_ingest)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (server-mode Chroma)")
    serve.set_defaults(func=cmd_serve)

    ask = sub.add_parser("ask", help="answer a question from the terminal")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the API's JSON")
    ask.add_argument("--top-k", type=int, default=5)
    ask.add_argument("--source", action="append", dest="sources", help="restrict to a source (repeatable)")
    ask.add_argument("--backend", choices=["extractive", "llm"])
    ask.add_argument(
        "--url", help="ask a running server (default: the one on this data dir, else in-process)"
    )
    ask.set_defaults(func=cmd_ask)

    evaluate = sub.add_parser("eval", help="run the eval suite (see `verbatim eval --help`)", add_help=False)
    evaluate.add_argument("args", nargs=argparse.REMAINDER)
    evaluate.set_defaults(func=lambda a: _delegate("verbatim.evals.runner", a.args))

    bench = sub.add_parser("bench", help="benchmarks: `verbatim bench ingest|latency [--help]`")
    bench.add_argument("which", choices=["ingest", "latency"])
    bench.add_argument("args", nargs=argparse.REMAINDER)
    bench.set_defaults(func=lambda a: _delegate(f"verbatim.evals.bench_{a.which}", a.args))

    bot = sub.add_parser("bot", help="run the Slack-style bot (talks to the API over HTTP)")
    bot.add_argument("--host", default="127.0.0.1")
    bot.add_argument("--port", type=int, default=3000)
    bot.set_defaults(func=cmd_bot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:  # everything after `eval` belongs to the eval runner, --help included
        return _delegate("verbatim.evals.runner", argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)

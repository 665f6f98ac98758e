"""The `verbatim` command: ingest, serve, ask, eval, bot, bench."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verbatim import __version__
from verbatim.settings import Settings, get_settings

if TYPE_CHECKING:
    from verbatim.cli.handoff import ServerInfo
    from verbatim.ingest.pipeline import IngestReport, Progress

CORPUS_HINT = (
    "to use another folder, point Verbatim at it: `verbatim serve --corpus DIR` (the server indexes it) "
    "or `verbatim ingest --corpus DIR` when no server runs"
)


def _settings(args: argparse.Namespace) -> Settings:
    """The environment's settings, with `--corpus` over VERBATIM_CORPUS_DIR."""
    settings = get_settings()
    corpus = getattr(args, "corpus", None)
    return settings.model_copy(update={"corpus_dir": Path(corpus)}) if corpus else settings


def _corpus_chosen(args: argparse.Namespace) -> bool:
    """True when the user named a corpus (flag or environment), rather than taking the default."""
    return bool(getattr(args, "corpus", None) or os.environ.get("VERBATIM_CORPUS_DIR"))


def _outside(paths: list[str], corpus: Path) -> list[str]:
    root = corpus.expanduser().resolve()
    return [p for p in paths if not Path(p).expanduser().resolve().is_relative_to(root)]


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


def _ingest_via_server(info: ServerInfo, settings: Settings, args: argparse.Namespace) -> IngestReport | None:
    """Hand the ingest to the running server as a job and show its progress; None (after a message)
    when it refuses or fails."""
    import httpx

    from verbatim.cli.handoff import auth_headers
    from verbatim.ingest.pipeline import IngestReport

    print(
        f"verbatim ingest: the server at {info.url} owns this data dir; ingesting through it "
        f"(corpus {info.corpus})",
        file=sys.stderr,
    )
    paths = [str(Path(p).resolve()) for p in args.paths] or None
    headers = auth_headers(settings, admin=True)
    try:
        response = httpx.post(
            f"{info.url}/admin/ingest",
            params={"job": "true"},
            json={"paths": paths, "dry_run": args.dry_run},
            headers=headers,
            timeout=None,
        )
        if response.status_code == 200:  # a dry run (or an older server) answers with the report
            return IngestReport(**response.json())
        if response.status_code != 202:
            print(f"verbatim ingest: {response.json().get('detail', response.text)}", file=sys.stderr)
            return None
        return _follow_job(info.url, response.json()["job"], headers)
    except httpx.HTTPError as exc:
        print(f"verbatim ingest: lost the server at {info.url}: {exc}", file=sys.stderr)
        return None


def _follow_job(url: str, job_id: str, headers: dict[str, str]) -> IngestReport | None:
    """Poll GET /jobs/{id} until it ends, drawing the same progress bar as an in-process ingest."""
    import httpx

    from verbatim.ingest.pipeline import IngestReport

    progress = _progress_printer()
    shown = -1
    while True:
        job = httpx.get(f"{url}/jobs/{job_id}", headers=headers, timeout=30).raise_for_status().json()
        if job["total"] and job["done"] != shown and job.get("current"):
            shown = job["done"]
            progress(job["current"], job["done"], job["total"])
        if job["state"] == "done":
            return IngestReport(**job["report"])
        if job["state"] == "failed":
            print(f"verbatim ingest: the server's ingest failed: {job['error']}", file=sys.stderr)
            return None
        time.sleep(0.25)


def cmd_ingest(args: argparse.Namespace) -> int:
    from verbatim.cli.handoff import server_info
    from verbatim.ingest.index.lock import IngestBusy
    from verbatim.ingest.reader import PathOutsideRoot
    from verbatim.ingest.run import run_ingest

    settings = _settings(args)
    info = None if settings.chroma_url else server_info(settings)
    corpus = Path(info.corpus) if info else settings.corpus_dir
    if info and _corpus_chosen(args) and settings.corpus_dir.expanduser().resolve() != corpus:
        print(
            f"verbatim ingest: a server already runs on the data dir {settings.data_dir}: {info.url} "
            f"(pid {info.pid}), serving the corpus {info.corpus}, not {settings.corpus_dir.resolve()}. "
            "Nothing was ingested. To use that folder, stop the server and start "
            f"`verbatim serve --corpus {settings.corpus_dir}` (it indexes the folder itself), or give "
            "it its own index with another VERBATIM_DATA_DIR.",
            file=sys.stderr,
        )
        return 2
    outside = _outside(args.paths, corpus)
    if outside:
        print(
            f"verbatim ingest: {', '.join(outside)} is outside the corpus root {corpus}; {CORPUS_HINT}",
            file=sys.stderr,
        )
        return 2
    if info:
        found = _ingest_via_server(info, settings, args)
        if found is None:
            return 2
        report = found
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
        except PathOutsideRoot as exc:
            print(f"verbatim ingest: {exc}; {CORPUS_HINT}", file=sys.stderr)
            return 2
        except (IngestBusy, FileNotFoundError, IndexUnavailable) as exc:
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


def _stop_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM/SIGINT end the process through `finally` blocks (uvicorn re-raises the signal once it
    has shut down), so the data dir is released and server.json removed."""
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import signal

    from verbatim.cli.handoff import DataDirTaken, own_data_dir
    from verbatim.cli.preflight import data_dir_problem

    settings = _settings(args)
    problem = data_dir_problem(settings)
    if problem:
        print(f"verbatim serve: {problem}", file=sys.stderr)
        return 2
    if args.workers > 1 and not settings.chroma_url:
        print(
            "verbatim serve: several workers need a Chroma server (VERBATIM_CHROMA_URL): an embedded "
            "store must have one owner",
            file=sys.stderr,
        )
        return 2
    if not settings.corpus_dir.is_dir():
        print(
            f"verbatim serve: the corpus folder {settings.corpus_dir} does not exist; {CORPUS_HINT}",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    try:
        with own_data_dir(settings, args.host, args.port) as info:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
            banner = (
                f"Verbatim listening on {info.url} (corpus {info.corpus}, data {info.data_dir})"
                if args.host in ("127.0.0.1", "localhost", "::1")
                else f"Verbatim listening on http://{args.host}:{args.port} ({info.url} from here; "
                f"corpus {info.corpus}, data {info.data_dir})"
            )
            _run_server(settings, args, banner)
    except DataDirTaken as exc:
        print(f"verbatim serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_server(settings: Settings, args: argparse.Namespace, banner: str) -> None:
    import uvicorn

    if args.workers > 1:
        print(banner, flush=True)
        uvicorn.run(
            "verbatim.service.api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="warning",
        )
        return
    from verbatim.service.api.app import create_app

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # bound: say where (a port in use ends in uvicorn's own message)
                print(banner, flush=True)

    config = uvicorn.Config(create_app(settings), host=args.host, port=args.port, log_level="warning")
    Server(config).run()


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

        from verbatim.service.qa.engine import Engine
        from verbatim.service.qa.errors import QAError
        from verbatim.service.qa.schemas import AskRequest

        try:
            request = AskRequest(**payload)
        except ValidationError as exc:
            print(f"verbatim ask: {exc.errors()[0]['msg']}", file=sys.stderr)
            return 2
        from verbatim.service.qa.answering import Answering

        engine = Engine(settings)
        engine.start()
        try:
            answering = Answering(settings, engine)
            data = answering.answer(request).model_dump()
        except QAError as exc:
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


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, except where there is none to show (None, off flags' text
    says it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    formatter = _Help
    parser = argparse.ArgumentParser(prog="verbatim", description=__doc__, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"verbatim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    corpus_help = "the folder of documents; sources are paths relative to it (over VERBATIM_CORPUS_DIR)"
    corpus_default = str(get_settings().corpus_dir)

    ingest = sub.add_parser(
        "ingest", help="index files or folders (default: the corpus dir)", formatter_class=formatter
    )
    ingest.add_argument(
        "paths", nargs="*", help="files or folders inside the corpus dir (default: all of it)"
    )
    ingest.add_argument(
        "--corpus", metavar="DIR", default=None, help=f"{corpus_help} [default: {corpus_default}]"
    )
    ingest.add_argument(
        "--dry-run", action="store_true", help="show documents, articles and spans; embed nothing"
    )
    ingest.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for another ingest to finish"
    )
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.set_defaults(func=cmd_ingest)

    serve = sub.add_parser(
        "serve",
        help="run the HTTP API (and the web page); one server per data dir",
        formatter_class=formatter,
    )
    serve.add_argument(
        "--corpus", metavar="DIR", default=None, help=f"{corpus_help} [default: {corpus_default}]"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (needs VERBATIM_CHROMA_URL)"
    )
    serve.set_defaults(func=cmd_serve)

    ask = sub.add_parser("ask", help="answer a question from the terminal", formatter_class=formatter)
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--json", action="store_true", help="print the API's JSON")
    ask.add_argument("--top-k", type=int, default=5, help="passages to retrieve (1-20)")
    ask.add_argument(
        "--source",
        action="append",
        dest="sources",
        metavar="SOURCE",
        help="restrict to a source (repeatable)",
    )
    ask.add_argument(
        "--backend",
        choices=["extractive", "llm"],
        help="answer backend (default: llm when VERBATIM_LLM_URL is set, else extractive)",
    )
    ask.add_argument(
        "--url", help="ask a running server (default: the one on this data dir, else in-process)"
    )
    ask.set_defaults(func=cmd_ask)

    evaluate = sub.add_parser("eval", help="run the eval suite (see `verbatim eval --help`)", add_help=False)
    evaluate.add_argument("args", nargs=argparse.REMAINDER)
    evaluate.set_defaults(func=lambda a: _delegate("verbatim.evals.runner", a.args))

    bench = sub.add_parser(
        "bench",
        help="benchmarks: `verbatim bench {ingest,latency,scale} [--help]`",
        description="Run a benchmark; each has its own options (`verbatim bench ingest --help`).",
        formatter_class=formatter,
    )
    bench.add_argument(
        "which",
        choices=["ingest", "latency", "scale"],
        help="ingest: indexing throughput; latency: answer latency under load; scale: 10 k to 1 M chunks",
    )
    bench.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="...", help="the benchmark's own options (see its --help)"
    )
    bench.set_defaults(func=lambda a: _delegate(f"verbatim.evals.bench_{a.which}", a.args))

    bot = sub.add_parser(
        "bot", help="run the Slack-style bot (talks to the API over HTTP)", formatter_class=formatter
    )
    bot.add_argument("--host", default="127.0.0.1", help="address to listen on")
    bot.add_argument(
        "--port", type=int, default=3000, help="port to listen on (Slack posts to /slack/events)"
    )
    bot.set_defaults(func=cmd_bot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["eval"]:  # everything after `eval` belongs to the eval runner, --help included
            return _delegate("verbatim.evals.runner", argv[1:])
        if argv[:1] == ["bench"] and len(argv) > 2 and argv[1] in ("ingest", "latency", "scale"):
            return _delegate(f"verbatim.evals.bench_{argv[1]}", argv[2:])  # its own --help too
        args = build_parser().parse_args(argv)
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`verbatim ask --json ... | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE

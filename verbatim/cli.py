"""The `verbatim` command: ingest, serve, ask, eval, bot, bench."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from verbatim.settings import get_settings


def _progress_printer() -> object:
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


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.lock import IngestBusy
    from ingest.reader import PathOutsideRoot
    from ingest.service import run_ingest

    settings = get_settings()
    try:
        report = run_ingest(settings, [Path(p) for p in args.paths] or None, dry_run=args.dry_run,
                            wait=args.wait, progress=_progress_printer())
    except (IngestBusy, PathOutsideRoot, FileNotFoundError) as exc:
        print(f"verbatim ingest: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.__dict__, indent=2, ensure_ascii=False))
    else:
        if args.dry_run:
            for doc in report.per_document:
                print(f"{doc['source']}: {len(doc['articles'])} articles, {doc['chunks']} chunks, "  # type: ignore[arg-type]
                      f"{doc['kept_chars']} chars kept, dropped {doc['dropped_chars']}")
                for title in doc["articles"]:  # type: ignore[attr-defined]
                    print(f"    - {title}")
        print(report.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verbatim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="index files or folders (default: the corpus dir)")
    ingest.add_argument("paths", nargs="*", help="files or folders inside VERBATIM_CORPUS_DIR")
    ingest.add_argument("--dry-run", action="store_true", help="show documents, articles and spans; embed nothing")
    ingest.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another ingest to finish")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.set_defaults(func=cmd_ingest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Scale benchmark: indexes of 10 k, 100 k and 1 M chunks, what a server costs on each, and how fast a
one-file change is served.

For each size (one server at a time, `verbatim serve` in a child on a free loopback port, embedded index):
index size on disk, chunk and document counts, cold start to /readyz 200, the server's resident memory
at ready and after the load (and beyond that of a server over an empty index), /ask and /search
p50/p99 at concurrency 1 and 8 (dev questions of the eval corpora), and the time from uploading one
file (POST /documents) to /search returning its chunk.

Sizes up to --real-up-to are built with `verbatim ingest` (real text from this machine, real
embeddings; see `evals.scale_corpus`); larger ones are derived from the largest real index by
`evals.scale_replicate` (copies under distinct source names, vectors perturbed, no encoder), and are
labelled so wherever a figure is shown.

    verbatim bench scale [--sizes 10000,100000,1000000] [--work reports/scale] [--reuse] [--build-only]
                         [--measure-only] [--docs] [--quick]

Indexes stay in WORK/idx-SIZE (reused with --reuse; a derived build resumes where it stopped); figures go
to WORK/SIZE.json and WORK/report.json, a table to stdout, and with --docs to docs/scaling.md and
docs/scaling.svg.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from verbatim.evals import scale_corpus, scale_plot
from verbatim.evals.bench_latency import Server, drive
from verbatim.evals.benchutil import (
    MB,
    REPO,
    REPORTS,
    child_env,
    default_model_cache,
    ingest_child,
    machine,
    table,
    write_report,
)

QUESTION_FILES = sorted((REPO / "evals" / "corpora").glob("*/questions.jsonl"))
OVERSHOOT = 1.05  # text selected for a size: a little more than the estimate, the real count is reported
MAX_ROUNDS = 5  # ingests per size (each adds text for the chunks still missing)
SAMPLE_BYTES = 3_000_000  # text chunked (dry run, no embedding) to estimate chunks per MB before any ingest
CHANGE_FOLDER = "scale-bench"
CHANGE_NAME = "scale-change.txt"
DOCS = REPO / "docs" / "scaling.md"
SVG = REPO / "docs" / "scaling.svg"


def derived_label(size: int, base_chunks: int, copies: int) -> str:
    """How a derived size was made: said with every figure of it."""
    return (
        f"{_short(size)} = the {base_chunks:,} real chunks x {copies} under distinct source names, "
        "vectors perturbed; no encoder"
    )


def label_of(build: dict[str, Any]) -> str:
    """How a size was built, as every figure of it is labelled."""
    if build["kind"] == "derived":
        label = derived_label(build["size"], build["replication"]["base_chunks"], build["copies"])
    else:
        label = f"{_short(build['size'])}: real text, real embeddings (verbatim ingest)"
    return label + (" (build resumed: its time is the last run's only)" if build.get("resumed") else "")


def _short(n: int) -> str:
    return f"{n / 1e6:g} M" if n >= 1_000_000 else f"{n / 1e3:g} k" if n >= 1000 else str(n)


def dev_questions(files: Sequence[Path] = QUESTION_FILES) -> list[str]:
    """The `question` of every dev-split item of the eval corpora, interleaved across corpora."""
    per_corpus: list[list[str]] = []
    for path in files:
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        per_corpus.append([str(i["question"]) for i in items if i.get("split") == "dev"])
    out: list[str] = []
    while any(per_corpus):
        for questions in per_corpus:
            if questions:
                out.append(questions.pop(0))
    if not out:
        raise RuntimeError("no dev questions found in evals/corpora/*/questions.jsonl")
    return out


# ----------------------------------------------------------------------------------- process figures


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process and its descendants, in MB (NaN when it is gone)."""
    total = 0
    for p in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            if p == pid:
                return float("nan")
    return total / MB


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk under `path` (sparse files count what they use)."""
    total = 0
    for folder, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total


# ----------------------------------------------------------------------------------- building


class Bench:
    """One run: the options, the work folder and what is known about chunks per byte of text."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.work.resolve()
        self.cache: Path = (args.model_cache or default_model_cache()).resolve()
        self.work.mkdir(parents=True, exist_ok=True)

    def say(self, message: str) -> None:
        print(f"… {message}", file=sys.stderr, flush=True)

    def idx(self, size: int) -> Path:
        return self.work / f"idx-{size}"

    def corpus(self, size: int) -> Path:
        return self.work / f"corpus-{size}"

    def build_record(self, size: int) -> Path:
        return self.work / f"build-{size}.json"

    def built(self, size: int) -> dict[str, Any] | None:
        path = self.build_record(size)
        return json.loads(path.read_text()) if path.exists() and self.idx(size).exists() else None

    def chunks_per_byte(self) -> float:
        """From the largest real build so far; before any, from a dry-run chunking of a text sample."""
        real = [b for b in map(self.built, self._all_sizes()) if b and b["kind"] == "real"]
        if real:
            best = max(real, key=lambda b: b["chunks"])
            return float(best["chunks"]) / float(best["text_bytes"])
        text = scale_corpus.collect(self.work, SAMPLE_BYTES)
        files = scale_corpus.prefix(text, SAMPLE_BYTES)
        sample = scale_corpus.link_corpus(text, files, self.work / "corpus-sample")
        self.say(f"estimating chunks per MB: chunking {len(files)} sample documents (dry run)")
        dry = ingest_child(
            self.work / "idx-sample", sample, self.args.runtime, self.cache, timeout=None, dry_run=True
        )
        return float(dry["chunks"]) / float(sum(f.bytes for f in files))

    def _all_sizes(self) -> list[int]:
        return sorted(
            int(p.stem.split("-", 1)[1]) for p in self.work.glob("build-*.json") if p.stem[6:].isdigit()
        )

    def build_real(self, size: int) -> dict[str, Any]:
        """Collect text for about `size` chunks into the size's own folder and ingest it (a child); while
        the index holds fewer chunks than `size`, add more text and ingest again (incremental: only the
        new files are embedded), estimating from the chunks per byte the last round gave."""
        ratio = self.chunks_per_byte()
        want = int(size / ratio * OVERSHOOT)
        rounds: list[dict[str, Any]] = []
        chunks, nbytes = 0, 0
        files: list[scale_corpus.Collected] = []
        for _ in range(MAX_ROUNDS):
            text = scale_corpus.collect(self.work, want)
            files = scale_corpus.prefix(text, want)
            if sum(f.bytes for f in files) <= nbytes:
                self.say(f"no more text on this machine ({text.bytes / MB:.1f} MB): {chunks} chunks")
                break
            corpus = scale_corpus.link_corpus(text, files, self.corpus(size))
            self.say(
                f"{_short(size)}: ingesting {len(files)} documents, "
                f"{sum(f.bytes for f in files) / MB:.1f} MB (~{ratio * MB:.0f} chunks per MB) "
                f"into {self.idx(size)}"
            )
            ingest = ingest_child(
                self.idx(size),
                corpus,
                self.args.runtime,
                self.cache,
                timeout=None,
                log=self.work / f"ingest-{size}.log",
            )
            rounds.append(ingest)
            added, more = ingest["chunks"] - chunks, sum(f.bytes for f in files) - nbytes
            chunks, nbytes = ingest["chunks"], nbytes + more
            if chunks >= size:
                break
            ratio = max(added / more, 1e-6) if added > 0 else ratio
            want = nbytes + int((size - chunks) / ratio * OVERSHOOT)
        last = rounds[-1]
        return {
            "kind": "real",
            "size": size,
            "label": f"{_short(size)}: real text, real embeddings (verbatim ingest)",
            "documents": last["documents"],
            "chunks": last["chunks"],
            "skipped": last["skipped"],
            "text_bytes": nbytes,
            "origins": scale_corpus.origin_summary(files),
            "ingest_rounds": rounds,
            "ingest_s": sum(r["seconds"] for r in rounds),
            "build_s": sum(r["wall_s"] for r in rounds),
            "corpus": str(self.corpus(size)),
        }

    def build_derived(self, size: int, base_size: int) -> dict[str, Any]:
        """Copy the real index of `base_size` and replicate it (a child) to about `size` chunks."""
        from verbatim.evals.scale_replicate import seed_from

        base = self.built(base_size)
        if base is None or base["kind"] != "real":
            raise RuntimeError(
                f"the {_short(size)} index is derived from a real one: build {base_size} first"
            )
        copies = max(2, round(size / base["chunks"]))
        started = time.perf_counter()
        self.say(f"{_short(size)}: {derived_label(size, base['chunks'], copies)}")
        seed_from(self.idx(base_size), self.idx(size))
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "verbatim.evals.scale_replicate",
                "--data-dir",
                str(self.idx(size)),
                "--copies",
                str(copies),
            ],
            cwd=REPO,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"replication failed ({proc.returncode}); rerun with --reuse to resume")
        result = json.loads(proc.stdout)
        corpus = self.corpus(size)
        if not corpus.exists():  # the server's corpus root: the base texts (copies have no files)
            shutil.copytree(self.corpus(base_size), corpus, copy_function=os.link)
        return {
            "kind": "derived",
            "size": size,
            "label": derived_label(size, base["chunks"], copies),
            "base_size": base_size,
            "copies": copies,
            "documents": result["documents"],
            "chunks": result["chunks"],
            "replication": result,
            "build_s": time.perf_counter() - started,
            "corpus": str(corpus),
        }

    def build(self, sizes: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Build (or, with --reuse, reuse or resume) every size's index; the records by size."""
        records: dict[int, dict[str, Any]] = {}
        real = [s for s in sizes if s <= self.args.real_up_to]
        for size in sorted(sizes):
            done = self.built(size) if self.args.reuse else None
            if done is not None:
                self.say(f"{_short(size)}: reusing {self.idx(size)} ({done['chunks']} chunks)")
                records[size] = done
                continue
            started = time.perf_counter()
            resumed = self.args.reuse and self.idx(size).exists()  # a killed build's committed part stays
            if size <= self.args.real_up_to:
                if not self.args.reuse:  # with --reuse a rerun ingest skips what is committed: a resume
                    shutil.rmtree(self.idx(size), ignore_errors=True)
                record = self.build_real(size)
            else:
                base = (
                    max(real)
                    if real
                    else max((s for s in self._all_sizes() if s <= self.args.real_up_to), default=0)
                )
                if not self.args.reuse:
                    shutil.rmtree(self.idx(size), ignore_errors=True)
                record = self.build_derived(size, base)
            record["wall_s"] = time.perf_counter() - started
            if resumed:  # the time is that of this run only: say so wherever it is shown
                record["resumed"] = True
            record["disk_bytes"] = disk_bytes(self.idx(size))
            record["finished_at"] = time.time()
            write_report(self.build_record(size), record)
            records[size] = record
            self.say(f"{_short(size)}: built in {record['build_s']:.0f} s, {record['chunks']} chunks")
        return records

    # ------------------------------------------------------------------------------- measuring

    def server(self, data_dir: Path, corpus: Path, log: Path) -> Server:
        return Server(
            data_dir, corpus, self.args.runtime, self.cache, log, ready_timeout=self.args.ready_timeout
        )

    def empty_rss(self) -> dict[str, Any]:
        """A server over an empty index (an empty corpus folder): the baseline "memory beyond the model"
        is measured against."""
        data, corpus = self.work / "idx-empty", self.work / "corpus-empty"
        shutil.rmtree(data, ignore_errors=True)
        corpus.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True)
        with self.server(data, corpus, self.work / "server-empty.log") as server:
            assert server.proc is not None
            time.sleep(2.0)  # let start-up allocations settle
            return {"cold_start_s": server.startup_s, "rss_mb": rss_mb(server.proc.pid)}

    def measure(self, size: int, build: dict[str, Any], empty: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        args = self.args
        questions = dev_questions()
        log = self.work / f"server-{size}.log"
        log.unlink(missing_ok=True)
        self.say(f"{_short(size)}: starting a server over {self.idx(size)}")
        disk = disk_bytes(self.idx(size))
        with self.server(self.idx(size), Path(build["corpus"]), log) as server:
            assert server.proc is not None
            pid = server.proc.pid
            rss_ready = rss_mb(pid)
            ready = httpx.get(f"{server.url}/readyz", timeout=30).json()
            warm_up = server.wait_for_warm_up(timeout=1800)
            phases = []
            for concurrency in (1, args.concurrency):
                for endpoint in ("/search", "/ask"):
                    self.say(f"{_short(size)}: {endpoint} at concurrency {concurrency}")
                    phase = drive(
                        server.url,
                        endpoint,
                        questions,
                        concurrency,
                        args.requests,
                        args.seconds,
                        server=server,
                    )
                    phases.append(phase.summary())
            rss_loaded = rss_mb(pid)
            self.say(f"{_short(size)}: one-file change x {args.changes}")
            change = one_file_change(
                server.url, log, Path(build["corpus"]), args.changes, args.change_timeout
            )
            rss_after_change = rss_mb(pid)
            startup = server.startup_s
        # A restart over the same index: a large one reads back the lexical index it saved.
        self.say(f"{_short(size)}: restarting the server")
        with self.server(self.idx(size), Path(build["corpus"]), log) as again:
            assert again.proc is not None
            restart: dict[str, Any] = {
                "cold_start_s": again.startup_s,
                "rss_ready_mb": rss_mb(again.proc.pid),
                "load": _load_lines(log)[-1:],
            }
        chunks = int(ready["chunks"])
        beyond = rss_ready - empty["rss_mb"]
        return {
            "size": size,
            "kind": build["kind"],
            "label": label_of(build),
            "chunks": chunks,
            "documents": int(ready["documents"]),
            "disk_bytes": disk,
            "build_s": build["build_s"],
            "cold_start_s": startup,
            "restart": restart,
            "warm_up_s": warm_up,
            "rss_ready_mb": rss_ready,
            "rss_after_load_mb": rss_loaded,
            "rss_after_change_mb": rss_after_change,
            "rss_empty_mb": empty["rss_mb"],
            "rss_beyond_empty_mb": beyond,
            "bytes_per_chunk_beyond_empty": beyond * MB / chunks if chunks else float("nan"),
            "phases": phases,
            "change": change,
            "errors": sum(p["errors"] for p in phases) + change["errors"],
            "machine": machine(),
            "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "measure_wall_s": time.perf_counter() - started,
            "size_wall_s": float(build.get("wall_s", float("nan"))) + time.perf_counter() - started,
        }


def _load_lines(log: Path) -> list[str]:
    """The server log's lines saying how an index version was loaded (full, cache or update)."""
    if not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    return [line.strip()[:300] for line in lines if " loaded: " in line]


def nonsense_token(rng: random.Random) -> str:
    """A word in no document (lowercase letters only, so every tokenizer keeps it one word)."""
    return "zq" + "".join(rng.choice(string.ascii_lowercase) for _ in range(12))


def one_file_change(url: str, log: Path, corpus: Path, repeats: int, timeout: float) -> dict[str, Any]:
    """Upload one small file (a new file, then new versions of it, through POST /documents with
    overwrite) and time from the request to /search returning its chunk with the file's new word
    (polled every 50 ms); the uploaded file is deleted afterwards (DELETE /documents/{source})."""
    rng = random.Random()
    runs: list[dict[str, Any]] = []
    errors = 0
    source = f"{CHANGE_FOLDER}/{CHANGE_NAME}"
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(repeats):
            existed = (corpus / source).exists()
            token = nonsense_token(rng)
            body = (
                f"Scale benchmark note, version {i + 1}.\n\nThis short note exists to time how long a change "
                f"to one file takes to be served. Its marker word is {token}, found in no other document.\n"
            )
            since = log.stat().st_size if log.exists() else 0
            t0 = time.perf_counter()
            response = client.post(
                "/documents",
                files={"files": (CHANGE_NAME, body.encode(), "text/plain")},
                data={"folder": CHANGE_FOLDER, "overwrite": "true"},
            )
            if response.status_code != 202:
                raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
            accepted = time.perf_counter() - t0
            source = response.json()["files"][0]["source"]
            served = float("nan")
            while time.perf_counter() - t0 < timeout:
                try:
                    found = client.post("/search", json={"query": token, "top_k": 5})
                    if found.status_code != 200:
                        errors += 1
                    elif any(r["source"] == source and token in r["text"] for r in found.json()["results"]):
                        served = time.perf_counter() - t0
                        break
                except httpx.HTTPError:
                    errors += 1
                time.sleep(0.05)
            runs.append(
                {
                    "kind": "change" if existed else "add",
                    "accepted_s": accepted,
                    "served_s": served,
                    "reload_log": _reload_lines(log, since),
                }
            )
        deleted = client.delete(f"/documents/{quote(source)}")
        if deleted.status_code >= 400:
            errors += 1
    served_all = [r["served_s"] for r in runs]
    return {
        "how": "POST /documents (folder scale-bench, overwrite=true): a new file, then new versions of it",
        "source": source,
        "runs": runs,
        "median_s": statistics.median(served_all) if served_all else float("nan"),
        "timed_out": sum(1 for s in served_all if not math.isfinite(s)),
        "errors": errors,
    }


def _reload_lines(log: Path, since: int) -> list[str]:
    """The server's log lines about loading a new index version since byte `since`."""
    if not log.exists():
        return []
    with open(log, "rb") as handle:
        handle.seek(since)
        lines = handle.read().decode("utf-8", "replace").splitlines()
    return [line[:400] for line in lines if "index version" in line or "snapshot" in line.lower()][-5:]


# ----------------------------------------------------------------------------------- reporting

HEADERS = [
    "size",
    "chunks",
    "docs",
    "disk MB",
    "build s",
    "cold start s",
    "restart s",
    "RSS ready MB",
    "RSS after load MB",
    "RSS beyond empty MB",
    "bytes/chunk beyond empty",
    "/ask p50 ms c1",
    "/ask p99 ms c1",
    "/ask req/s c8",
    "/search p50 ms c1",
    "change served s (median)",
    "errors",
]


def _phase(result: dict[str, Any], endpoint: str, concurrency: int) -> dict[str, Any]:
    for p in result["phases"]:
        if p["endpoint"] == endpoint and p["concurrency"] == concurrency:
            return dict(p)
    return {}


def row(result: dict[str, Any], concurrency: int = 8) -> list[object]:
    ask1, askc = _phase(result, "/ask", 1), _phase(result, "/ask", concurrency)
    search1 = _phase(result, "/search", 1)
    nan = float("nan")
    return [
        _short(result["size"]) + (" (derived)" if result["kind"] == "derived" else ""),
        result["chunks"],
        result["documents"],
        result["disk_bytes"] / MB,
        float(result["build_s"]),
        result["cold_start_s"],
        result.get("restart", {}).get("cold_start_s", nan),
        result["rss_ready_mb"],
        result["rss_after_load_mb"],
        result["rss_beyond_empty_mb"],
        result["bytes_per_chunk_beyond_empty"],
        ask1.get("p50", nan),
        ask1.get("p99", nan),
        askc.get("rps", nan),
        search1.get("p50", nan),
        result["change"]["median_s"],
        result["errors"],
    ]


def svg(results: Sequence[dict[str, Any]]) -> str:
    ordered = sorted(results, key=lambda r: r["chunks"])
    series = {
        "RSS beyond empty index, MB": [r["rss_beyond_empty_mb"] for r in ordered],
        "cold start, s": [r["cold_start_s"] for r in ordered],
        "restart (saved lexical index), s": [r.get("restart", {}).get("cold_start_s") for r in ordered],
        "one-file change served, s": [r["change"]["median_s"] for r in ordered],
        "/ask p50 at concurrency 1, ms": [_phase(r, "/ask", 1).get("p50") for r in ordered],
    }
    return scale_plot.render_svg(
        [float(r["chunks"]) for r in ordered], series, "verbatim bench scale (log-log)"
    )


def docs_section(report: dict[str, Any]) -> str:
    results = sorted(report["results"], key=lambda r: r["size"])
    m = report["machine"]
    lines = [
        "## Measured: `verbatim bench scale`",
        "",
        "Generated by `verbatim bench scale --docs`; do not edit between the markers.",
        "",
        f"Machine: {m['cpus']} CPUs, Python {m['python']}, {m['platform']}; load average at the end "
        f"{m['load_average']} (the machine is shared).",
        "",
        scale_plot.markdown_table(HEADERS, [row(r) for r in results]),
        "",
        "![scale curves](scaling.svg)",
        "",
        "How each size was built:",
        "",
    ]
    lines += [
        f"- {r['label']}; measured {r.get('measured_at', '?')}, load average "
        f"{r.get('machine', {}).get('load_average', '?')}"
        for r in results
    ]
    lines += [
        "",
        "Columns: disk = bytes allocated under the index's data dir; cold start = spawn of "
        "`verbatim serve` to `/readyz` 200 on its first start over the index; restart = the same for a "
        "second start (an index larger than the chunk cache reads back the lexical index it saved); "
        "RSS = VmRSS of the server process at ready; "
        "beyond empty = minus the RSS of a server "
        "over an empty index (the model and the code); /ask and /search at concurrency 1 and 8 over the dev "
        "questions of the eval corpora; change served = from `POST /documents` of one small file to "
        "`/search` returning its chunk (median of "
        f"{len(results[0]['change']['runs']) if results else 0}: a new file, then new versions of it).",
        "",
        "Text: " + "; ".join(f"{scale_corpus.ORIGINS[o]}" for o in report.get("origins", {})) + ".",
    ]
    origins = report.get("origins", {})
    if origins:
        lines += ["", scale_plot.markdown_table(
            ["origin", "documents", "MB"],
            [[o, v["documents"], v["bytes"] / MB] for o, v in origins.items()],
        )]  # fmt: skip
    return "\n".join(lines)


def combine(
    work: Path, results: dict[int, dict[str, Any]], builds: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """This run's results plus those of other sizes measured before in the same work folder."""
    merged = dict(results)
    for path in work.glob("*.json"):
        if path.stem.isdigit() and int(path.stem) not in merged:
            merged[int(path.stem)] = json.loads(path.read_text())
    origins: dict[str, dict[str, int]] = {}
    real = [b for b in builds.values() if b["kind"] == "real"]
    if real:
        origins = max(real, key=lambda b: b["chunks"])["origins"]
    return {
        "benchmark": "scale",
        "machine": machine(),
        "results": [merged[s] for s in sorted(merged)],
        "origins": origins,
    }


# ----------------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verbatim bench scale", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="chunk counts, comma-separated")
    parser.add_argument("--work", type=Path, default=REPORTS / "scale", help="indexes, text and reports")
    parser.add_argument("--real-up-to", type=int, default=100_000, help="larger sizes are derived")
    parser.add_argument("--requests", type=int, default=200, help="requests per load phase")
    parser.add_argument("--seconds", type=float, default=120.0, help="time cap per load phase")
    parser.add_argument("--concurrency", type=int, default=8, help="the higher concurrency")
    parser.add_argument("--changes", type=int, default=3, help="one-file changes timed per size")
    parser.add_argument("--change-timeout", type=float, default=900.0, help="seconds to wait for one")
    parser.add_argument("--ready-timeout", type=float, default=1800.0, help="seconds to wait for /readyz")
    parser.add_argument("--runtime", choices=["onnx", "torch"], default="onnx", help="embed runtime")
    parser.add_argument("--model-cache", type=Path, default=None, help="the int8 ONNX export's folder")
    parser.add_argument("--reuse", action="store_true", help="reuse built indexes; resume unfinished ones")
    parser.add_argument("--build-only", action="store_true", help="build the indexes, measure nothing")
    parser.add_argument("--measure-only", action="store_true", help="measure indexes built before")
    parser.add_argument("--docs", action="store_true", help="update docs/scaling.md and docs/scaling.svg")
    parser.add_argument("--quick", action="store_true", help="one size of 2000 chunks, few requests")
    return parser


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes chunk counts like 10000,100000: {text!r}") from None
    if not sizes or sizes[0] <= 0:
        raise argparse.ArgumentTypeError("--sizes must be positive chunk counts")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.requests, args.seconds, args.changes = "2000", 20, 20.0, 2
    try:
        sizes = parse_sizes(args.sizes)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.build_only and args.measure_only:
        parser.error("--build-only and --measure-only exclude each other")
    bench = Bench(args)
    if args.measure_only:
        builds = {s: b for s in sizes if (b := bench.built(s)) is not None}
        missing = [s for s in sizes if s not in builds]
        if missing:
            parser.error(f"not built yet in {bench.work}: {', '.join(map(str, missing))}")
    else:
        builds = bench.build(sizes)
    if args.build_only:
        print(table(["size", "kind", "chunks", "docs", "build s", "disk MB"], [
            [_short(s), b["kind"], b["chunks"], b["documents"], float(b["build_s"]), b["disk_bytes"] / MB]
            for s, b in sorted(builds.items())
        ]))  # fmt: skip
        return 0
    bench.say("a server over an empty index (the memory baseline)")
    empty = bench.empty_rss()
    results, failed = {}, {}
    for size in sizes:
        try:
            result = bench.measure(size, builds[size], empty)
        except (RuntimeError, httpx.HTTPError, KeyError, ValueError) as exc:  # the other sizes still run
            failed[size] = f"{type(exc).__name__}: {exc}"
            bench.say(f"{_short(size)}: measurement failed: {failed[size][-2000:]}")
            write_report(bench.work / f"{size}-failed.json", {"size": size, "error": failed[size]})
            (bench.work / f"{size}.json").unlink(missing_ok=True)  # no older figures shown as current
            continue
        write_report(bench.work / f"{size}.json", result)
        results[size] = result
    report = combine(bench.work, results, builds)
    report["failed"] = failed
    path = write_report(bench.work / "report.json", report)
    print(table(HEADERS, [row(r, args.concurrency) for r in report["results"]]))
    for r in report["results"]:
        print(r["label"])
    print(f"report: {path}")
    if args.docs and report["results"]:
        scale_plot.update_section(DOCS, docs_section(report))
        SVG.write_text(svg(report["results"]), encoding="utf-8")
        print(f"docs: {DOCS}, {SVG}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

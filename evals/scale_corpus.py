"""Real text for the scale benchmark: distinct documents collected from this machine, in a fixed order.

The scale benchmark needs tens of megabytes of real prose. It takes, in this order: the evaluation
corpora's documents (always first, so every size holds what the dev questions ask about), then a
deterministic shuffle of prose files found on the machine: Markdown/reST/text files in the Python
environment's site-packages, `/usr/share/doc` (README, NEWS and changelog files, `.gz` ones decompressed)
and English man pages rendered to plain text with groff. Files that are not UTF-8 prose, too small, too
large, or byte-identical to one already taken are passed over.

Collected files are written to `WORK/text/` as `NNNNN-<name>.<ext>`, listed in `WORK/text.json` with
where each came from; a size's corpus is a prefix of that list, hard-linked into its own folder, so the
10 k corpus is a subset of the 100 k one. Collection resumes where it stopped when more text is needed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from verbatim.evals.benchutil import REPO

EVAL_CORPORA = REPO / "evals" / "corpora"
DOC_ROOT = Path("/usr/share/doc")
MAN_ROOT = Path("/usr/share/man")
PROSE_SUFFIXES = frozenset({"", ".txt", ".text", ".md", ".markdown", ".rst", ".debian"})  # changelog.Debian
MIN_BYTES = 1_000
MAX_BYTES = 2_000_000  # a few huge changelogs would otherwise make up a whole size
SEED = 22


@dataclass(frozen=True)
class Candidate:
    """A file that may yield a document: where it is and how to read it."""

    origin: str  # eval-corpora | site-packages | usr-share-doc | man-pages
    path: Path
    how: str  # copy (any format ingest reads) | text | gzip | man


@dataclass
class Collected:
    """One document written to WORK/text/."""

    name: str
    origin: str
    path: str
    bytes: int


ORIGINS = {
    "eval-corpora": "the project's evaluation corpora (evals/corpora/*/documents; see their SOURCES.md)",
    "site-packages": "Markdown, reST and text files in the Python environment's site-packages (package docs)",
    "usr-share-doc": "/usr/share/doc: Debian package READMEs, NEWS and changelogs (.gz decompressed)",
    "man-pages": "/usr/share/man/man1-8: English man pages rendered to plain text (groff -Tutf8 -mandoc)",
}


def candidates(
    eval_corpora: Path = EVAL_CORPORA, doc_root: Path = DOC_ROOT, man_root: Path = MAN_ROOT
) -> list[Candidate]:
    """Every candidate file in collection order: the eval corpora first, then the rest shuffled with a fixed
    seed (every prefix mixes the kinds of text alike, so chunks per MB measured on one size holds for
    the next)."""
    first = [
        Candidate("eval-corpora", p, "copy")
        for p in sorted(eval_corpora.glob("*/documents/**/*"))
        if p.is_file() and not p.name.startswith(".")
    ]
    rest: list[Candidate] = []
    site = Path(sysconfig.get_paths()["purelib"])
    for p in _files(site):
        if p.suffix.lower() in {".md", ".rst", ".txt"} and "LICENSE" not in p.name.upper():
            rest.append(Candidate("site-packages", p, "text"))
    for p in _files(doc_root):
        inner = p.with_suffix("") if p.suffix == ".gz" else p
        if inner.suffix.lower() in PROSE_SUFFIXES and p.name != "copyright":
            rest.append(Candidate("usr-share-doc", p, "gzip" if p.suffix == ".gz" else "text"))
    for p in _files(man_root):
        if re.fullmatch(r"man[1-8]", p.parent.name) and p.parent.parent == man_root:
            rest.append(Candidate("man-pages", p, "man"))
    random.Random(SEED).shuffle(rest)
    return first + rest


def _files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    out = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                out.append(path)
    return sorted(out)


def read_candidate(candidate: Candidate) -> tuple[bytes, str] | None:
    """(content, file extension) of a candidate, or None when it is not usable prose."""
    path = candidate.path
    try:
        if candidate.how == "copy":
            data, ext = path.read_bytes(), path.suffix.lower()
            return (data, ext) if MIN_BYTES <= len(data) <= MAX_BYTES else None
        if candidate.how == "gzip":
            with gzip.open(path, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
            ext = path.with_suffix("").suffix.lower()
        elif candidate.how == "man":
            data, ext = _render_man(path), ".txt"
        else:
            if path.stat().st_size > MAX_BYTES:
                return None
            data, ext = path.read_bytes(), path.suffix.lower()
    except (OSError, EOFError, gzip.BadGzipFile, subprocess.SubprocessError):
        return None
    if not MIN_BYTES <= len(data) <= MAX_BYTES or not is_prose(data):
        return None
    return data, (ext if ext in {".md", ".markdown", ".rst"} else ".txt")


def _render_man(path: Path) -> bytes:
    source = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if source.lstrip().startswith(b".so "):  # a link to another page: that page is a candidate itself
        return b""
    proc = subprocess.run(
        ["groff", "-Tutf8", "-mandoc", "-P-cbou"],
        input=source,
        capture_output=True,
        timeout=30,
        check=False,
        env={**os.environ, "MANWIDTH": "80"},
    )
    return proc.stdout if proc.returncode == 0 else b""


def is_prose(data: bytes) -> bool:
    """UTF-8 text, no NUL, and mostly letters and spaces (not a table of numbers, code or a binary)."""
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text)
    return letters >= 0.8 * len(text)


def _slug(path: Path) -> str:
    stem = path.name.removesuffix(".gz")
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    parent = path.parent.parent.name if path.parent.name == "documents" else path.parent.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{parent}-{stem}")[:60].strip("-.") or "doc"


@dataclass
class TextCorpus:
    """The collected documents (in order) and where collection stopped in the candidate list."""

    root: Path
    files: list[Collected]
    next_candidate: int = 0
    exhausted: bool = False

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def save(self, path: Path) -> None:
        data = {
            "next_candidate": self.next_candidate,
            "exhausted": self.exhausted,
            "origins": ORIGINS,
            "files": [asdict(f) for f in self.files],
        }
        path.write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, work: Path) -> TextCorpus:
        index = work / "text.json"
        if not index.exists():
            return cls(work / "text", [])
        data = json.loads(index.read_text())
        files = [Collected(**f) for f in data["files"]]
        return cls(work / "text", files, int(data["next_candidate"]), bool(data["exhausted"]))


def collect(
    work: Path, target_bytes: int, found: Sequence[Candidate] | None = None, log: bool = True
) -> TextCorpus:
    """Extend WORK/text/ until it holds `target_bytes` of distinct documents (or the machine runs out)."""
    corpus = TextCorpus.load(work)
    if corpus.bytes >= target_bytes or corpus.exhausted:
        return corpus
    corpus.root.mkdir(parents=True, exist_ok=True)
    pool = list(found) if found is not None else candidates()
    seen = {_digest((corpus.root / f.name).read_bytes()) for f in corpus.files}
    total = corpus.bytes
    position = corpus.next_candidate
    for position in range(corpus.next_candidate, len(pool)):
        if total >= target_bytes:
            break
        got = read_candidate(pool[position])
        if got is None:
            continue
        data, ext = got
        digest = _digest(data)
        if digest in seen:
            continue
        seen.add(digest)
        name = f"{len(corpus.files):05d}-{_slug(pool[position].path)}{ext}"
        (corpus.root / name).write_bytes(data)
        corpus.files.append(Collected(name, pool[position].origin, str(pool[position].path), len(data)))
        total += len(data)
        if log and len(corpus.files) % 500 == 0:
            print(f"… text: {len(corpus.files)} documents, {total / 1e6:.1f} MB", file=sys.stderr, flush=True)
    else:
        position = len(pool)
        corpus.exhausted = total < target_bytes
    corpus.next_candidate = position
    corpus.save(work / "text.json")
    return corpus


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def prefix(corpus: TextCorpus, nbytes: int) -> list[Collected]:
    """The first documents whose sizes add up to at least `nbytes` (all of them if there is less)."""
    out, total = [], 0
    for f in corpus.files:
        if total >= nbytes:
            break
        out.append(f)
        total += f.bytes
    return out


def link_corpus(corpus: TextCorpus, files: Sequence[Collected], dest: Path) -> Path:
    """A size's own corpus folder holding exactly `files` (hard links into WORK/text/, copies across
    file systems); files of an earlier, larger selection are removed."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {f.name for f in files}
    for present in dest.iterdir():
        if present.name not in wanted:
            if present.is_dir():
                shutil.rmtree(present)
            else:
                present.unlink()
    for f in files:
        target = dest / f.name
        if not target.exists():
            try:
                os.link(corpus.root / f.name, target)
            except OSError:
                shutil.copyfile(corpus.root / f.name, target)
    return dest


def origin_summary(files: Sequence[Collected]) -> dict[str, dict[str, int]]:
    """Documents and bytes per origin (for the report and docs/scaling.md)."""
    out: dict[str, dict[str, int]] = {}
    for f in files:
        entry = out.setdefault(f.origin, {"documents": 0, "bytes": 0})
        entry["documents"] += 1
        entry["bytes"] += f.bytes
    return out

"""Reading text and Markdown files safely: exact UTF-8 text, clear per-file errors, no path escapes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})


@dataclass(frozen=True)
class RawDocument:
    """One file's text exactly as on disk, named by its path relative to the corpus root."""

    source: str
    path: Path
    text: str
    sha256: str


@dataclass(frozen=True)
class ReadProblem:
    """A file that was skipped, and why (reported to the user, never fatal)."""

    source: str
    reason: str


class PathOutsideRoot(ValueError):
    """A path (or a symlink target) lies outside the corpus root."""


def read_text_exact(path: Path) -> str:
    """Read a file the way offsets are defined: UTF-8, no newline translation."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def source_name(path: Path, root: Path) -> str:
    """The `source` of a file: its path relative to the corpus root, with forward slashes."""
    resolved = path.resolve()
    root_resolved = root.resolve()
    if not resolved.is_relative_to(root_resolved):
        raise PathOutsideRoot(f"{path} is outside the corpus root {root}")
    return resolved.relative_to(root_resolved).as_posix()


def discover(paths: Iterable[Path], root: Path) -> Iterator[Path]:
    """Text files under the given files or folders (recursively), sorted, never leaving `root`."""
    root_resolved = root.resolve()
    for path in paths:
        resolved = path.resolve()
        if not resolved.is_relative_to(root_resolved):
            raise PathOutsideRoot(f"{path} is outside the corpus root {root}")
        if resolved.is_dir():
            for child in sorted(resolved.rglob("*")):
                text_file = child.is_file() and child.suffix.lower() in TEXT_SUFFIXES
                inside = child.resolve().is_relative_to(root_resolved)
                if text_file and inside and not _hidden(child, resolved):
                    yield child
        elif resolved.is_file():
            yield resolved
        else:
            raise FileNotFoundError(f"{path} does not exist")


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def load(path: Path, root: Path) -> RawDocument | ReadProblem:
    """Read one file, or say why it cannot be indexed (binary, not UTF-8, empty)."""
    source = source_name(path, root)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReadProblem(source, f"cannot read: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return ReadProblem(source, "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ReadProblem(source, f"not UTF-8 (byte {exc.start}: {exc.reason})")
    if not text.strip():
        return ReadProblem(source, "empty file")
    # Offsets are defined on the text read with newline="": decoding the bytes gives the same string.
    return RawDocument(source=source, path=path, text=text, sha256=hashlib.sha256(data).hexdigest())

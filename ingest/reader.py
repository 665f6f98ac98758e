"""Finding files safely: every file under the given paths, named relative to the corpus root, no path escapes.

Which files can be read, and how, is `ingest/formats/`; discovery lists every file (but hidden ones) so
that the ingest report can account for each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


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
    """Files under the given files or folders (recursively), sorted, never leaving `root`; files and
    folders whose name starts with a dot (.git, .DS_Store) are not documents and are not listed."""
    root_resolved = root.resolve()
    for path in paths:
        resolved = path.resolve()
        if not resolved.is_relative_to(root_resolved):
            raise PathOutsideRoot(f"{path} is outside the corpus root {root}")
        if resolved.is_dir():
            for child in sorted(resolved.rglob("*")):
                inside = child.resolve().is_relative_to(root_resolved)
                if child.is_file() and inside and not _hidden(child, resolved):
                    yield child
        elif resolved.is_file():
            yield resolved
        else:
            raise FileNotFoundError(f"{path} does not exist")


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)

"""Store uploaded files under the corpus dir: never outside it, never over a file unless asked.

Every check runs before anything is written, so a request with one bad file stores none. Files are
written to a temporary name in the target folder and then linked into place, so a reader never sees a
half-written document and two uploads of one name cannot both win. Which files arrived this way is
recorded in the data dir: deleting such a document also deletes its file; other files are the user's.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from verbatim.ingest.formats import supported_suffixes
from verbatim.ingest.reader import source_name

DEFAULT_FOLDER = "uploads"
LOG_FILE = "uploads.json"
_COPY_CHUNK = 1 << 20


class UploadRejected(ValueError):
    """Base of the reasons an upload is refused (each one a client error with its own status)."""


class UnsupportedFormat(UploadRejected):
    """The file's suffix has no reader."""


class FileTooLarge(UploadRejected):
    """A file is over the upload limit."""


class BadUploadName(UploadRejected):
    """A file or folder name that would leave the corpus dir or is no plain name."""


class AlreadyExists(UploadRejected):
    """A file of that name exists and overwriting was not asked for."""


class CorpusNotWritable(OSError):
    """The corpus dir cannot be written (read-only mount, permissions, full disk)."""


@dataclass(frozen=True)
class Incoming:
    """One received file: the name the client gave and its bytes (spooled, read from the start)."""

    name: str
    data: BinaryIO


def check_suffix(name: str) -> None:
    """Raise UnsupportedFormat unless a reader exists for the name's suffix."""
    suffix = Path(name).suffix.lower()
    if suffix not in supported_suffixes():
        raise UnsupportedFormat(
            f"{name!r}: unsupported format {suffix or '(no suffix)'!r} "
            f"(supported: {', '.join(supported_suffixes())})"
        )


def plain_name(name: str) -> str:
    """The file name as given, if it is a plain name (no folder part, no traversal, not hidden)."""
    if not name or "\x00" in name or "/" in name or "\\" in name or name in (".", ".."):
        raise BadUploadName(f"{name[:100]!r} is not a plain file name (no folders, no '..')")
    if name.startswith("."):
        raise BadUploadName(f"{name[:100]!r}: names starting with '.' are hidden and never indexed")
    try:
        os.fsencode(name)
    except UnicodeError as exc:
        raise BadUploadName(f"{name[:100]!r} cannot be a file name: {exc}") from exc
    return name


def target_folder(root: Path, folder: str | None) -> Path:
    """The folder under `root` a relative `folder` names; never outside root, symlinks included."""
    raw = (folder or DEFAULT_FOLDER).strip()
    if "\x00" in raw or "\\" in raw or Path(raw).is_absolute() or raw.startswith("~"):
        raise BadUploadName(f"folder {raw[:100]!r} must be a relative folder under the corpus dir")
    raw = raw.strip("/") or DEFAULT_FOLDER
    parts = Path(raw).parts
    if any(p in ("..", ".") or p.startswith(".") for p in parts):
        raise BadUploadName(f"folder {raw[:100]!r} must not contain '..' or hidden parts")
    path = root / raw
    if not path.resolve().is_relative_to(root.resolve()):
        raise BadUploadName(f"folder {raw[:100]!r} leads outside the corpus dir (a symbolic link?)")
    return path


class UploadLog:
    """Sources that were stored by an upload (a small JSON file in the data dir, thread-safe)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOG_FILE
        self._lock = threading.Lock()

    def _read(self) -> set[str]:
        try:
            return set(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return set()

    def _write(self, sources: set[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(sources)), encoding="utf-8")
        os.replace(tmp, self.path)

    def add(self, sources: Sequence[str]) -> None:
        with self._lock:
            self._write(self._read() | set(sources))

    def discard(self, source: str) -> None:
        with self._lock:
            self._write(self._read() - {source})

    def __contains__(self, source: object) -> bool:
        with self._lock:
            return source in self._read()


def store_uploads(
    root: Path, folder: str | None, files: Sequence[Incoming], *, overwrite: bool = False
) -> list[tuple[Incoming, Path, str]]:
    """Store every file under root/folder or none of them: (file, path, source) for each."""
    if not files:
        raise BadUploadName("no files: send one or more multipart fields named 'files'")
    base = target_folder(root, folder)
    planned: list[tuple[Incoming, Path, str]] = []
    seen: set[str] = set()
    for item in files:
        name = plain_name(item.name)
        check_suffix(name)
        path = base / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise BadUploadName(f"{name!r}: the corpus holds a link or folder of that name")
        if name in seen:
            raise BadUploadName(f"{name!r} is sent twice")
        seen.add(name)
        if path.exists() and not overwrite:
            raise AlreadyExists(f"{source_name(path, root)!r} exists; send overwrite=true to replace it")
        planned.append((item, path, source_name(path, root)))
    try:
        base.mkdir(parents=True, exist_ok=True)
        if not base.resolve().is_relative_to(root.resolve()):  # a link raced in: refuse
            raise BadUploadName(f"folder {folder!r} leads outside the corpus dir")
        for item, path, _ in planned:
            _write_file(item.data, path, overwrite=overwrite)
    except OSError as exc:
        raise CorpusNotWritable(
            f"cannot store uploads in {base}: {exc.strerror or exc}; the corpus dir must be writable "
            "for uploads (a read-only mount cannot take them)"
        ) from exc
    return planned


def _write_file(data: BinaryIO, path: Path, *, overwrite: bool) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            data.seek(0)
            while chunk := data.read(_COPY_CHUNK):
                out.write(chunk)
        tmp.chmod(0o644)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the name appeared meanwhile: never replace silently
            except FileExistsError as exc:
                raise AlreadyExists(f"{path.name!r} appeared while uploading; send overwrite=true") from exc
    finally:
        tmp.unlink(missing_ok=True)

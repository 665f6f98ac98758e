"""Checks run before a command touches the data dir, so a bad one is reported in a sentence."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

from verbatim.settings import Settings

_REASONS = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def data_dir_problem(settings: Settings) -> str | None:
    """None when the data dir (and the embedded index in it) can be written; else what is wrong."""
    path = settings.data_dir
    targets = [path] if settings.chroma_url else [path, path / "chroma"]
    current: Path = path
    try:
        path.mkdir(parents=True, exist_ok=True)
        for current in targets:
            if current.exists():
                with tempfile.TemporaryFile(dir=current, prefix=".verbatim-write-check-"):
                    pass
    except OSError as exc:
        reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        return (
            f"the data dir {path} is not writable ({reason}: {current}); make it writable or point "
            "VERBATIM_DATA_DIR at a writable folder"
        )
    return None

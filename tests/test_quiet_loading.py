"""Converting the model leaves the console alone: no progress bars, no quantiser advice, and no logging
configured behind the user's back (after which every library's debug lines would print), while other
warnings still reach the console."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import logging, sys
from pathlib import Path
import bm25s
from verbatim.ingest.index.embedder import _quiet_loading, export_int8_onnx, packaged_model_dir
export_int8_onnx(packaged_model_dir(), Path(sys.argv[1]) / "model-int8.onnx")
with _quiet_loading():
    logging.getLogger("elsewhere").warning("a real warning")
bm25s.BM25().index(bm25s.tokenize(["a wheat train", "a ferry"], show_progress=False), show_progress=False)
print("root handlers", len(logging.getLogger().handlers))
"""


@pytest.mark.slow
def test_int8_export_prints_nothing_and_configures_no_logging(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model-int8.onnx").stat().st_size > 1_000_000
    assert done.stdout.strip() == "root handlers 0"
    assert "a real warning" in done.stderr  # only the quantiser's advice is dropped
    for noise in ("Please consider", "DEBUG:bm25s", "Loading weights"):
        assert noise not in done.stderr, done.stderr

"""The installed distribution (what the Docker image and `pip install .` get): everything under
`verbatim.`, the data files the product needs at run time, none of the evaluation corpora."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_holds_the_product_and_only_the_product(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(REPO),
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("verbatim_qa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    code = [n for n in names if not n.startswith("verbatim_qa-")]
    assert code and all(n.startswith("verbatim/") for n in code)  # no generic top-level names
    for needed in (
        "verbatim/service/qa/answer_model.json",  # loaded strictly at start: the image cannot run without it
        "verbatim/service/web/static/index.html",
        "verbatim/evals/thresholds.toml",
        "verbatim/ingest/formats/markdown.py",
        "verbatim/cli/main.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if "/corpora/" in n]

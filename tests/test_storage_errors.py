"""A full disk or a read-only data dir is reported in a sentence everywhere (no traceback, no 500).
The real read-only case runs in test_server_mode.py; a full disk is simulated here."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from verbatim.cli import main as cli
from verbatim.cli import preflight
from verbatim.cli.preflight import data_dir_problem
from verbatim.ingest.index.store import IndexStore, IndexUnavailable, storage_problem
from verbatim.service.api.app import create_app

FULL = OSError(errno.ENOSPC, "No space left on device", "/data/chroma/chroma.sqlite3")


def test_storage_problem_names_the_cause() -> None:
    assert storage_problem(FULL) == "No space left on device (/data/chroma/chroma.sqlite3)"
    assert storage_problem(OSError(errno.EROFS, "Read-only file system")) == "Read-only file system"
    wrapped = RuntimeError("error returned from database: (code: 13) database or disk is full")
    assert storage_problem(wrapped) == "database or disk is full"
    try:
        try:
            raise PermissionError(errno.EACCES, "Permission denied", "/data")
        except PermissionError as inner:
            raise ValueError("chroma could not start") from inner
    except ValueError as outer:
        assert storage_problem(outer) == "Permission denied (/data)"
    assert storage_problem(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")) is None


def test_store_turns_a_full_disk_into_index_unavailable(tmp_path: Path) -> None:
    store = IndexStore(make_settings(tmp_path / "data"))

    def fill(*_: object) -> None:
        raise FULL

    expected = r"cannot be written: No space left on device .*VERBATIM_DATA_DIR"
    with pytest.raises(IndexUnavailable, match=expected):
        store._call(fill)


def test_preflight_reports_a_full_or_unusable_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert data_dir_problem(make_settings(tmp_path / "fresh")) is None
    occupied = tmp_path / "a-file"
    occupied.write_text("x")
    problem = data_dir_problem(make_settings(occupied))
    assert problem and "is not writable" in problem and "VERBATIM_DATA_DIR" in problem

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(preflight.tempfile, "TemporaryFile", full)
    problem = data_dir_problem(make_settings(tmp_path / "fresh"))
    assert problem and "no space left on device" in problem


def test_cli_ingest_reports_a_disk_filling_up_mid_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VERBATIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VERBATIM_CHROMA_URL", raising=False)
    cli.get_settings.cache_clear()

    def fill(*_: object, **__: object) -> None:
        raise FULL

    monkeypatch.setattr("verbatim.ingest.run.run_ingest", fill)
    try:
        assert cli.main(["ingest"]) == 2
    finally:
        cli.get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "cannot write the index: No space left on device" in err and "Traceback" not in err


def test_admin_ingest_on_a_full_disk_is_a_503_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(make_settings(tmp_path / "data"), start=False)

    def fill(*_: object, **__: object) -> None:
        raise FULL

    monkeypatch.setattr(app.state.engine, "ingest", fill)
    with TestClient(app) as client:
        r = client.post("/admin/ingest", json={})
    assert r.status_code == 503 and "cannot write the index: No space left on device" in r.json()["detail"]

"""Bring your own documents over HTTP: upload (limits, names, overwrite, admin keys), jobs, delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings, read_source
from verbatim.ingest.formats import supported_suffixes
from verbatim.service.api.app import create_app
from verbatim.service.qa.engine import Engine

ADMIN = {"Authorization": "Bearer admin-key-7f3a91"}
USER = {"Authorization": "Bearer user-key-2c8e44"}
NOTE = "# Ferry timetable\n\nThe night ferry to Tallinn leaves at 23:15 from terminal D.\n"


@pytest.fixture
def client(corpus: Path, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path / "data",
        corpus_dir=corpus,
        api_keys=USER["Authorization"].split()[1],
        admin_keys=ADMIN["Authorization"].split()[1],
        max_upload_bytes=4096,
        max_body_bytes=1024,
    )
    engine = Engine(settings)
    engine.start()
    with TestClient(create_app(settings, engine=engine, start=False)) as test_client:
        yield test_client
    engine.stop()


def wait_job(
    client: TestClient, job: str, timeout: float = 180, headers: dict[str, str] = USER
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data: dict[str, Any] = client.get(f"/jobs/{job}", headers=headers).json()
        assert data["state"] in ("queued", "running", "done", "failed")
        assert 0 <= data["done"] <= max(data["total"], 1)
        if data["state"] in ("done", "failed"):
            return data
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def upload(client: TestClient, *files: tuple[str, bytes], **fields: str) -> Any:
    return client.post(
        "/documents",
        files=[("files", (n, b, "application/octet-stream")) for n, b in files],
        data=fields,
        headers=ADMIN,
    )


def test_upload_indexes_in_a_job_then_answers_and_delete_removes_it(client: TestClient, corpus: Path) -> None:
    big = NOTE + "x" * 2000  # over VERBATIM_MAX_BODY_BYTES (1024), under the upload limit (4096)
    r = upload(client, ("ferry.md", big.encode()))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["files"] == [{"name": "ferry.md", "source": "uploads/ferry.md"}]
    job = wait_job(client, body["job"])
    assert job["state"] == "done" and job["done"] == job["total"] == 1
    assert job["files"] == [{"source": "uploads/ferry.md", "outcome": "indexed", "reason": None}]
    assert (corpus / "uploads" / "ferry.md").read_text() == big
    doc = client.get("/documents/uploads/ferry.md", headers=USER).json()
    assert doc["text"] == read_source(corpus, "uploads/ferry.md")
    found = client.post("/search", json={"query": "night ferry to Tallinn terminal D"}, headers=USER).json()
    assert found["results"][0]["source"] == "uploads/ferry.md"

    # The same file again: refused without overwrite, unchanged with it.
    assert upload(client, ("ferry.md", big.encode())).status_code == 409
    again = upload(client, ("ferry.md", big.encode()), overwrite="true")
    assert again.status_code == 202
    assert wait_job(client, again.json()["job"])["files"][0]["outcome"] == "unchanged"

    gone = client.delete("/documents/uploads/ferry.md", headers=ADMIN)
    assert gone.status_code == 200 and gone.json()["file_deleted"] is True
    assert not (corpus / "uploads" / "ferry.md").exists()
    listed = {d["source"] for d in client.get("/documents", headers=USER).json()["documents"]}
    assert "uploads/ferry.md" not in listed and listed  # the seeds stay
    assert client.get("/documents/uploads/ferry.md", headers=USER).status_code == 404
    assert client.delete("/documents/uploads/ferry.md", headers=ADMIN).status_code == 404


def test_deleting_a_document_that_was_not_uploaded_keeps_its_file(client: TestClient, corpus: Path) -> None:
    source = sorted(p.name for p in corpus.glob("*.txt"))[0]
    r = client.delete(f"/documents/{source}", headers=ADMIN)
    assert r.status_code == 200 and r.json()["file_deleted"] is False
    assert (corpus / source).exists()
    assert client.get(f"/documents/{source}", headers=USER).status_code == 404


def test_unsupported_oversize_and_bad_names_are_refused_and_nothing_is_written(
    client: TestClient, corpus: Path, tmp_path: Path
) -> None:
    before = sorted(p for p in tmp_path.rglob("*") if "data" not in p.parts)
    r = upload(client, ("photo.gif", b"GIF89a"))
    assert r.status_code == 415
    assert all(suffix in r.json()["detail"] for suffix in supported_suffixes())
    r = upload(client, ("big.txt", b"a" * 5000))
    assert (
        r.status_code == 413
        and "4,096" in r.json()["detail"]
        and "VERBATIM_MAX_UPLOAD_BYTES" in r.json()["detail"]
    )
    for name in ("../escape.txt", "..", "a/b.txt", "..\\escape.txt", ".hidden.txt"):
        r = upload(client, (name, b"text"))
        assert r.status_code == 422, (name, r.text)
    for folder in ("../outside", "/tmp", "a/../../b", "~/x"):
        r = upload(client, ("ok.txt", b"text"), folder=folder)
        assert r.status_code == 422, (folder, r.text)
    (corpus / "link").symlink_to(tmp_path)
    assert upload(client, ("ok.txt", b"text"), folder="link").status_code == 422
    # One bad file in a request stores none of them.
    assert upload(client, ("fine.txt", b"text"), ("bad.exe", b"MZ")).status_code == 415
    after = sorted(p for p in tmp_path.rglob("*") if "data" not in p.parts)
    assert [p for p in after if p not in before] == [corpus / "link"]
    assert (
        client.post(
            "/documents", content=b"{}", headers={**ADMIN, "content-type": "application/json"}
        ).status_code
        == 422
    )


def test_uploads_and_deletes_need_the_admin_key(client: TestClient, corpus: Path) -> None:
    files = [("files", ("a.txt", b"some text", "text/plain"))]
    r = client.post("/documents", files=files)
    assert r.status_code == 401 and "API key" in r.json()["detail"]
    r = client.post("/documents", files=files, headers=USER)
    assert r.status_code == 403 and "VERBATIM_ADMIN_KEYS" in r.json()["detail"]
    assert client.delete("/documents/x.txt", headers=USER).status_code == 403
    assert client.post("/admin/ingest", json={}, headers=USER).status_code == 403
    assert not (corpus / "uploads").exists()
    # The admin key is also an API key.
    assert client.get("/documents", headers=ADMIN).status_code == 200
    r = client.post("/documents", files=files, data={"folder": "notes/2024"}, headers=ADMIN)
    assert r.status_code == 202 and r.json()["files"][0]["source"] == "notes/2024/a.txt"
    assert wait_job(client, r.json()["job"])["state"] == "done"


def test_admin_ingest_as_a_job_reports_every_file(client: TestClient, corpus: Path) -> None:
    (corpus / "notes").mkdir()
    (corpus / "notes" / "plan.txt").write_text("The plan is to meet at noon on Friday.\n")
    (corpus / "notes" / "scan.gif").write_bytes(b"GIF89a")
    r = client.post("/admin/ingest?job=true", json={"paths": ["notes"]}, headers=ADMIN)
    assert r.status_code == 202
    job = wait_job(client, r.json()["job"])
    assert job["state"] == "done" and job["total"] == 2 and job["report"]["indexed"] == 1
    outcomes = {f["source"]: (f["outcome"], f["reason"]) for f in job["files"]}
    assert outcomes["notes/plan.txt"] == ("indexed", None)
    assert outcomes["notes/scan.gif"][0] == "skipped" and "unsupported" in outcomes["notes/scan.gif"][1]
    assert client.get("/jobs/nope", headers=USER).status_code == 404
    r = client.post("/admin/ingest?job=true", json={"paths": ["missing"]}, headers=ADMIN)
    assert r.status_code == 422 and "does not exist" in r.json()["detail"]


def test_every_supported_format_uploads_indexes_and_cites_exactly(corpus: Path, tmp_path: Path) -> None:
    """One file of each format through POST /documents: stored, indexed in the job, and every passage of
    it is an exact span of the text `GET /documents/{source}` serves."""
    from tests.test_formats import HTML, make_docx, make_pdf

    files = {
        "notes.txt": b"Harbour notes\n\nThe tug Orla berths at quay seven every evening.\n",
        "notes.md": NOTE.encode(),
        "notes.rst": b"Quay guide\n==========\n\nThe pilot boat waits at buoy three.\n",
        "lighthouse.html": HTML.encode(),
        "crane.pdf": make_pdf(),
        "ferry.docx": make_docx(),
    }
    assert {Path(n).suffix for n in files} <= set(supported_suffixes())
    settings = make_settings(tmp_path / "data", corpus_dir=corpus, admin_keys="a", api_keys="a")
    engine = Engine(settings)
    engine.start()
    auth = {"Authorization": "Bearer a"}
    try:
        with TestClient(create_app(settings, engine=engine, start=False)) as client:
            r = client.post(
                "/documents",
                files=[("files", (n, b, "application/octet-stream")) for n, b in files.items()],
                headers=auth,
            )
            assert r.status_code == 202, r.text
            job = wait_job(client, r.json()["job"], headers=auth)
            assert {f["source"]: f["outcome"] for f in job["files"]} == {
                f"uploads/{n}": "indexed" for n in files
            }
            for name in files:
                doc = client.get(f"/documents/uploads/{name}", headers=auth).json()
                found = client.post(
                    "/search", json={"query": doc["text"][:80], "sources": [f"uploads/{name}"]}, headers=auth
                ).json()["results"]
                assert found, name
                for p in found:
                    assert doc["text"][p["start"] : p["end"]] == p["text"], name
            assert client.get("/documents/uploads/crane.pdf", headers=auth).json()["pages"]
    finally:
        engine.stop()

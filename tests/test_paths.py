"""Nothing outside the corpus root is ever read: not by ingestion, not through the API."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._servers import clean_env, run_cli
from tests.conftest import LiveServer, make_settings
from verbatim.ingest.formats import read_document as load
from verbatim.ingest.reader import PathOutsideRoot, discover, source_name
from verbatim.service.api.app import create_app
from verbatim.service.qa.engine import Engine

SECRET = "TOP-SECRET-CONTENT-7Q2X"
Live = tuple[LiveServer, Engine]
GOOD = "Harbour News\n\nThe ferry Caspian Star docked at Aktau port with 212 containers on Monday.\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """corpus/ with a good file and symlinks pointing out of it; outside/ holds the secret."""
    base = tmp_path_factory.mktemp("paths")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"Secret memo\n\n{SECRET} about the harbour.\n", encoding="utf-8")
    (outside / "dir").mkdir()
    (outside / "dir" / "inner.txt").write_text(f"Inner\n\n{SECRET} in a folder.\n", encoding="utf-8")
    corpus = base / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "good.txt").write_text(GOOD, encoding="utf-8")
    (corpus / "sub" / "nested.md").write_text(
        "# Rail\n\nThe night train reached Tbilisi at dawn.\n", encoding="utf-8"
    )
    (corpus / "link_out.txt").symlink_to(outside / "secret.txt")
    (corpus / "sub" / "rel_out.txt").symlink_to(Path("..") / ".." / "outside" / "secret.txt")
    (corpus / "linked_dir").symlink_to(outside / "dir", target_is_directory=True)
    (corpus / "link_in.txt").symlink_to(corpus / "good.txt")  # inside the root: fine
    return corpus


def test_discover_skips_links_leaving_the_root(tree: Path) -> None:
    found = {source_name(p, tree) for p in discover([tree], tree)}
    assert found == {"good.txt", "sub/nested.md"}  # link_in.txt resolves to good.txt
    for path in found:
        assert SECRET not in (tree / path).read_text()


@pytest.mark.parametrize(
    "target",
    [
        "link_out.txt",
        "sub/rel_out.txt",
        "linked_dir",
        "linked_dir/inner.txt",
        "../outside/secret.txt",
        "sub/../../outside/secret.txt",
        "/etc/passwd",
    ],
)
def test_explicit_paths_outside_the_root_are_refused(tree: Path, target: str) -> None:
    path = Path(target) if target.startswith("/") else tree / target
    with pytest.raises(PathOutsideRoot, match="outside the corpus root"):
        list(discover([path], tree))
    if path.is_file():
        with pytest.raises(PathOutsideRoot):
            load(path, tree)


def test_cli_ingest_refuses_paths_outside_the_root(tree: Path, tmp_path: Path) -> None:
    env = clean_env(VERBATIM_DATA_DIR=tmp_path / "data", VERBATIM_CORPUS_DIR=tree)
    out = run_cli(["ingest", str(tree / ".." / "outside" / "secret.txt")], env)
    assert out.returncode == 2 and "outside the corpus root" in out.stderr and "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def live(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    engine = Engine(make_settings(tmp_path_factory.mktemp("paths-data") / "data", tree))
    engine.start()
    with LiveServer(create_app(engine.settings, engine=engine, start=False)) as server:
        server.wait_ready()
        yield server, engine
    engine.stop()


def raw_get(server: LiveServer, target: str) -> tuple[int, str]:
    """GET with the request target sent byte for byte (no client-side normalisation of ../ or %2e)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        conn.close()


def test_only_files_inside_the_root_were_indexed(live: Live) -> None:
    server, _ = live
    listed = httpx.get(f"{server.url}/documents").json()["documents"]
    assert {d["source"] for d in listed} == {"good.txt", "sub/nested.md"}
    assert SECRET not in httpx.post(f"{server.url}/search", json={"query": "secret memo harbour"}).text


TRAVERSALS = [
    "/documents/../../outside/secret.txt",
    "/documents/..%2f..%2foutside%2fsecret.txt",
    "/documents/%2e%2e/%2e%2e/outside/secret.txt",
    "/documents/%2e%2e%2f%2e%2e%2foutside%2fsecret.txt",
    "/documents/%252e%252e%252foutside%252fsecret.txt",
    "/documents/sub/../../../outside/secret.txt",
    "/documents//etc/passwd",
    "/documents/%2Fetc%2Fpasswd",
    "/documents/..%5c..%5coutside%5csecret.txt",
    "/documents/link_out.txt",
    "/documents/sub/rel_out.txt",
    "/documents/linked_dir/inner.txt",
    "/documents/good.txt%00../../outside/secret.txt",
    "/documents/%00",
    "/documents/..",
    "/documents/good.txt/../../../outside/secret.txt?start=0&end=10",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_documents_endpoint_cannot_read_outside_the_root(live: Live, target: str) -> None:
    status, body = raw_get(live[0], target)
    assert 400 <= status < 500, (status, body[:200])
    assert SECRET not in body and "root:" not in body


def test_documents_endpoint_reads_indexed_files(live: Live) -> None:
    status, body = raw_get(live[0], "/documents/sub/nested.md?start=8&end=23")
    assert status == 200 and '"text":"The night train"' in body.replace(": ", ":")


def test_indexed_file_swapped_for_a_link_out_is_not_followed(live: Live, tree: Path) -> None:
    server, _ = live
    target = tree / "good.txt"
    original = target.read_text(encoding="utf-8")
    target.unlink()
    target.symlink_to(tree.parent / "outside" / "secret.txt")
    try:
        r = httpx.get(f"{server.url}/documents/good.txt")
        assert 400 <= r.status_code < 500 and SECRET not in r.text
        assert "cannot be read" in r.json()["detail"] or "unknown source" in r.json()["detail"]
    finally:
        target.unlink()
        target.write_text(original, encoding="utf-8")


@pytest.mark.parametrize(
    "paths",
    [
        ["../outside/secret.txt"],
        ["/etc/passwd"],
        ["link_out.txt"],
        ["sub/../../outside/secret.txt"],
        ["linked_dir"],
        ["good.txt", "/etc"],
    ],
)
def test_admin_ingest_refuses_paths_outside_the_root(live: Live, paths: list[str]) -> None:
    server, engine = live
    before = engine.snapshot().version
    r = httpx.post(f"{server.url}/admin/ingest", json={"paths": paths}, timeout=120)
    assert r.status_code == 422 and "outside the corpus root" in r.json()["detail"], r.text
    assert engine.store.version() == before
    assert set(engine.store.manifest()) == {"good.txt", "sub/nested.md"}


def test_a_hostile_symlink_added_later_is_ignored_by_a_folder_ingest(live: Live, tree: Path) -> None:
    server, engine = live
    link = tree / "sub" / "later_out.txt"
    os.symlink(tree.parent / "outside" / "secret.txt", link)
    try:
        r = httpx.post(f"{server.url}/admin/ingest", json={"paths": ["sub"]}, timeout=120)
        assert r.status_code == 200, r.text
        assert set(engine.store.manifest()) == {"good.txt", "sub/nested.md"}
    finally:
        link.unlink()


@pytest.mark.parametrize("raw", ["good\x00.txt", "\udb15bad.txt"])
def test_admin_ingest_refuses_paths_that_are_no_file_names(live: Live, raw: str) -> None:
    server, _ = live
    body = json.dumps({"paths": [raw]}).encode()  # \udb15 stays an escape: valid JSON, no file name
    r = httpx.post(f"{server.url}/admin/ingest", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "invalid path" in r.json()["detail"], r.text

"""The Chroma store's search settings: the configured HNSW breadth reaches new and existing indexes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from verbatim.ingest.index import store as store_module
from verbatim.ingest.index.store import IndexStore


def _ef(store: IndexStore) -> Any:
    store.version()  # connects
    return store.chunks.configuration_json["hnsw"]["ef_search"]


def test_the_configured_hnsw_breadth_is_given_to_new_and_existing_indexes(tmp_path: Path) -> None:
    assert _ef(IndexStore(make_settings(tmp_path / "data", hnsw_ef=50))) == 50
    assert _ef(IndexStore(make_settings(tmp_path / "data", hnsw_ef=300))) == 300  # an existing index


class ReadOnlyCollection:
    def __init__(self) -> None:
        self.configuration_json = {"hnsw": {"space": "cosine", "ef_search": 100}}

    def modify(self, **_: Any) -> None:
        raise RuntimeError("attempt to write a readonly database")


def test_a_store_that_cannot_take_the_setting_keeps_serving_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="verbatim.store"):
        store_module._search_breadth(ReadOnlyCollection(), 400)
    assert "could not set the index's HNSW ef_search to 400" in caplog.text

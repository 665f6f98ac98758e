"""The embedding runtimes agree with sentence-transformers; the model loads only when needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from verbatim.ingest.index.embedder import bf16_supported, load_encoder, packaged_model_dir, runtime_for

TEXTS = [
    "Who lifted the transit ban?",
    "At the weekend, 1,000 tons of wheat from Kazakhstan arrived in Armenia via an unexpected route. "
    "The wheat was transported via Azerbaijani territory by rail for the first time in over three decades.",
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(packaged_model_dir()), device="cpu", local_files_only=True)
    return model.encode(TEXTS, normalize_embeddings=True)


def test_torch_runtime_equals_sentence_transformers(tmp_path: Path, reference: np.ndarray) -> None:
    encoder = load_encoder(make_settings(tmp_path, embed_runtime="torch"))
    assert np.abs(encoder.embed(TEXTS) - reference).max() < 1e-5


def test_int8_onnx_is_close_to_full_precision(reference: np.ndarray, tmp_path: Path) -> None:
    encoder = load_encoder(make_settings(tmp_path, embed_runtime="onnx"))
    assert (encoder.embed(TEXTS) * reference).sum(axis=1).min() >= 0.98


@pytest.mark.skipif(not bf16_supported(), reason="this CPU has no native bfloat16")
def test_bf16_is_close_to_full_precision(reference: np.ndarray, tmp_path: Path) -> None:
    encoder = load_encoder(make_settings(tmp_path, embed_runtime="torch-bf16"))
    assert (encoder.embed(TEXTS) * reference).sum(axis=1).min() >= 0.999


def test_auto_picks_onnx_for_queries_and_bf16_for_ingest_where_native(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.embed_runtime == "auto"
    assert runtime_for(settings, "query") == "onnx"
    assert runtime_for(settings, "ingest") == ("torch-bf16" if bf16_supported() else "onnx")
    assert runtime_for(make_settings(tmp_path, embed_runtime="torch"), "query") == "torch"


def test_sentence_vectors_pool_their_own_tokens(tmp_path: Path) -> None:
    encoder = load_encoder(make_settings(tmp_path, embed_runtime="onnx"))
    text = TEXTS[1]
    first_end = text.index(".", text.index("route")) + 1
    embedded = encoder.embed_spans([text], [[(0, first_end), (first_end + 1, len(text))]])[0]
    alone = encoder.embed([text[:first_end], text[first_end + 1 :]])
    sims = embedded.span_vectors @ alone.T
    # Each sentence embedded alone is closest to its own span's vector. (Not the converse: a late-chunked
    # span carries its context, and on some CPUs' int8 kernels the second span sits a hair nearer the
    # first sentence than its own.)
    assert sims[0, 0] > sims[1, 0] and sims[1, 1] > sims[0, 1]


def test_the_model_loads_only_on_first_embedding(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, embed_runtime="onnx", model_cache_dir=tmp_path / "empty-cache")
    encoder = load_encoder(settings, threads=1)
    assert encoder.count_tokens("Hello world") == 4  # the tokenizer works without the model
    assert not (tmp_path / "empty-cache").exists()  # nothing exported yet

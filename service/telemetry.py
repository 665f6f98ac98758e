"""Prometheus metrics of the API (one set per process; labels are route templates, never raw paths)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("verbatim_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "verbatim_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)
STAGE = Histogram(
    "verbatim_stage_seconds",
    "Time per answering stage",
    ["stage"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5),
)
ABSTENTIONS = Counter("verbatim_abstentions_total", "Questions the documents did not answer")
SHED = Counter("verbatim_load_shed_total", "Requests refused with 503 because the server was at capacity")
FALLBACKS = Counter(
    "verbatim_backend_fallbacks_total", "Model answers replaced by the extractive answer", ["reason"]
)
DROPPED_QUOTES = Counter("verbatim_dropped_quotes_total", "Model quotes not found in the sources")
INDEX_CHUNKS = Gauge("verbatim_index_chunks", "Chunks in the served index snapshot")
INDEX_VERSION = Gauge("verbatim_index_version", "Version of the served index snapshot")
INDEX_DOCUMENTS = Gauge("verbatim_index_documents", "Documents in the served index snapshot")
INDEX_LOADED = Gauge("verbatim_index_loaded_timestamp_seconds", "When the served index snapshot was loaded")
INDEX_LEXICAL_BYTES = Gauge(
    "verbatim_index_lexical_bytes", "Memory held by the served snapshot's lexical index"
)
INDEX_LOADS = Histogram(
    "verbatim_index_load_seconds",
    "Time to load an index version: full (from the store), cache (saved lexical index + changes), update",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
CHUNKS_FETCHED = Counter(
    "verbatim_chunks_fetched_total", "Chunks read from the store by id (chunk-cache misses)"
)


def observe_snapshot(snap: object) -> None:
    """Set the index gauges from a snapshot (anything with chunk_count, version, documents, loaded_at)."""
    INDEX_CHUNKS.set(getattr(snap, "chunk_count", 0))
    INDEX_VERSION.set(getattr(snap, "version", 0))
    INDEX_DOCUMENTS.set(len(getattr(snap, "documents", ())))
    INDEX_LOADED.set(getattr(snap, "loaded_at", 0.0))
    INDEX_LEXICAL_BYTES.set(getattr(getattr(snap, "lexical", None), "nbytes", 0))

"""The lexical index and spelling vocabulary saved on the replica's own disk, so a restart reads them
back and applies what changed since (by comparing the manifest) instead of re-reading and re-tokenising
the whole corpus from the store.

The cache is only a shortcut: it records which version of each document it reflects (file hash and
pipeline), every difference from the store's manifest is applied on load, and anything unreadable or
written by another cache format is ignored (a full load follows).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from verbatim.service.qa.lexical import LexicalIndex, Segment, SourceCodes
from verbatim.service.qa.spelling import Vocabulary, WordCounts, merged

log = logging.getLogger("verbatim.lexical_cache")
FORMAT = 1  # bump when the saved layout or the tokenisation (`text.terms`) changes


@dataclass
class Cached:
    """What a replica saved: the index version, the document versions it reflects, its indexes."""

    version: int
    reflects: dict[str, tuple[str, str]]  # source → (sha256, pipeline)
    lexical: LexicalIndex
    vocabulary: Vocabulary


def cache_dir(data_dir: Path, store_location: str, collection: str) -> Path:
    """One folder per index (store location and collection), under the replica's data dir."""
    key = hashlib.sha256(f"{store_location}\x00{collection}".encode()).hexdigest()[:16]
    return data_dir / "lexical-cache" / key


def save(path: Path, cached: Cached) -> None:
    """Write the cache to a new folder, then swap it in (a reader never finds half a cache)."""
    started = time.perf_counter()
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    lexical = cached.lexical
    for i, (segment, live) in enumerate(zip(lexical.segments, lexical.live, strict=True)):
        segment.save(tmp / f"segment-{i}.npz", lexical.codes)
        np.save(tmp / f"live-{i}.npy", live)
    words = merged(cached.vocabulary.layers)
    keys = list(words.counts)
    spelled = list(words.spellings.items())
    np.savez(
        tmp / "vocabulary.npz",
        words=np.frombuffer("\n".join(keys).encode("utf-8"), dtype=np.uint8),
        counts=np.array([words.counts[k] for k in keys], dtype=np.int64),
        spelled=np.frombuffer(
            "\n".join(f"{k}\t{raw}" for k, (raw, _) in spelled).encode("utf-8"), dtype=np.uint8
        ),
        spelled_counts=np.array([n for _, (_, n) in spelled], dtype=np.int64),
    )
    state = {
        "format": FORMAT,
        "version": cached.version,
        "segments": len(lexical.segments),
        "located": dict(lexical.located),
        "reflects": cached.reflects,
        "saved_at": time.time(),
    }
    (tmp / "state.json").write_text(json.dumps(state, ensure_ascii=False))
    old = path.with_name(f"{path.name}.old-{os.getpid()}")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    log.info(
        "lexical cache saved: %s segments in %.1f s", len(lexical.segments), time.perf_counter() - started
    )


def load(path: Path) -> Cached | None:
    """The saved cache, or None (absent, another format, or unreadable: logged)."""
    state_file = path / "state.json"
    if not state_file.exists():
        return None
    try:
        state = json.loads(state_file.read_text())
        if state.get("format") != FORMAT:
            log.info("lexical cache at %s has another format; rebuilding", path)
            return None
        codes = SourceCodes()
        segments, live = [], []
        for i in range(int(state["segments"])):
            segment = Segment.load(path / f"segment-{i}.npz", codes)
            mask = np.load(path / f"live-{i}.npy")
            if len(mask) != len(segment):
                raise ValueError(f"segment {i}: {len(mask)} live flags for {len(segment)} chunks")
            segments.append(segment)
            live.append(mask)
        live_chunks = sum(int(m.sum()) for m in live)
        live_length = sum(int(s.lengths[m].sum(dtype=np.int64)) for s, m in zip(segments, live, strict=True))
        lexical = LexicalIndex(
            segments=tuple(segments),
            live=tuple(live),
            located={str(k): int(v) for k, v in state["located"].items()},
            codes=codes,
            live_chunks=live_chunks,
            live_length=live_length,
        )
        with np.load(path / "vocabulary.npz") as data:
            keys = data["words"].tobytes().decode("utf-8").split("\n") if len(data["words"]) else []
            counts = dict(zip(keys, data["counts"].tolist(), strict=True))
            pairs = data["spelled"].tobytes().decode("utf-8").split("\n") if len(data["spelled"]) else []
            spellings = {
                k: (raw, int(n))
                for (k, raw), n in zip((p.split("\t", 1) for p in pairs), data["spelled_counts"], strict=True)
            }
        vocabulary = Vocabulary(layers=(WordCounts(counts, spellings),))
        reflects = {str(s): (str(v[0]), str(v[1])) for s, v in state["reflects"].items()}
        return Cached(int(state["version"]), reflects, lexical, vocabulary)
    except Exception as exc:  # any damage (truncated file, bad zip, wrong shapes) only costs a rebuild
        log.warning("lexical cache at %s is unreadable (%s); rebuilding", path, exc)
        return None

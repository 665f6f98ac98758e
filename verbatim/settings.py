"""One settings object, read from the environment (documented in the README)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Chroma and Hugging Face must never phone home or try a model hub: set before either is imported.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Settings(BaseSettings):
    """Every knob of Verbatim; `VERBATIM_*` environment variables unless named otherwise."""

    model_config = SettingsConfigDict(
        env_prefix="VERBATIM_",
        extra="ignore",
        populate_by_name=True,
        env_ignore_empty=True,  # "" = unset
    )

    data_dir: Path = Path("./data")
    corpus_dir: Path = Path("./seeds")
    chroma_url: str | None = None
    collection: str = "verbatim"
    embed_model: str | None = Field(
        default=None, description="sentence-transformers model path; unset = packaged"
    )
    embed_runtime: Literal["auto", "onnx", "torch", "torch-bf16"] = "auto"
    model_cache_dir: Path | None = None

    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_backend: str = "openai"
    llm_timeout: float = 30.0
    llm_max_concurrency: int = 4

    max_file_bytes: int = Field(
        default=100 * 1024 * 1024, ge=1, description="larger files are skipped by ingest, with the reason"
    )
    max_pdf_pages: int = Field(default=2000, ge=1, description="PDFs with more pages are skipped")
    max_docx_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1, description="DOCX archives that inflate past this are skipped"
    )

    api_keys: SecretStr | None = None
    admin_keys: SecretStr | None = Field(
        default=None, description="keys that may also upload, delete and ingest; unset = the API keys"
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="largest file POST /documents accepts (413 above)"
    )
    rate_limit: str | None = None
    max_inflight: int = 64
    cors_origins: str | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="larger request bodies get 413")
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"
    refresh_interval: float = 1.0
    hnsw_ef: int = Field(
        default=400,
        ge=10,
        le=10_000,
        description="candidates Chroma's HNSW search visits per question (ef_search) for an index larger "
        "than the chunk cache: higher finds more of the true nearest chunks, at some latency",
    )
    chunk_cache: int = Field(
        default=20_000,
        ge=0,
        description="chunks (text, sentences, vectors) kept in memory; an index up to this size is held "
        "whole, a larger one is read by id as questions need it and its lexical index saved on disk",
    )

    api_url: str = "http://127.0.0.1:8000"
    bot_api_timeout: float = 25.0
    public_url: str | None = None
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL", "slack_api_url")
    )

    @property
    def models_dir(self) -> Path:
        """Where derived model files (the int8 ONNX export) are cached."""
        return self.model_cache_dir or (self.data_dir / "models")

    @property
    def citation_base_url(self) -> str:
        """Base URL that citation links in chat point to."""
        return (self.public_url or self.api_url).rstrip("/")

    def api_key_list(self) -> list[str]:
        """Configured bearer tokens; empty = the API is open."""
        return _split(self.api_keys)

    def admin_key_list(self) -> list[str]:
        """Bearer tokens that may upload, delete and ingest: the admin keys, else the API keys; empty =
        open (only when neither is set)."""
        return _split(self.admin_keys) or self.api_key_list()

    def accepted_key_list(self) -> list[str]:
        """Every token the API accepts at all (API keys and admin keys); empty = the API is open."""
        keys = self.api_key_list()
        return keys + [k for k in self.admin_key_list() if k not in keys] if keys else []


def _split(keys: SecretStr | None) -> list[str]:
    if keys is None:
        return []
    return [k.strip() for k in keys.get_secret_value().split(",") if k.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process (tests build their own `Settings`)."""
    return Settings()

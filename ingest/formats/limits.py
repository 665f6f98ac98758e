"""Limits a converter enforces on one file (settings; a file over a limit is skipped with the reason)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadLimits:
    max_pdf_pages: int = 2000
    max_docx_uncompressed_bytes: int = 200 * 1024 * 1024

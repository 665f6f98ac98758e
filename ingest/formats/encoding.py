"""Decoding bytes whose encoding is declared, guessed, or mixed, without ever failing.

Order: a byte-order mark; the charset the file declares (HTTP-equiv/meta or XML declaration); UTF-8; then
charset-normalizer's best guess. A file that is UTF-8 with a few stray single-byte characters (pasted
from a Windows-1252 editor: mixed encodings) keeps its UTF-8 and reads the stray bytes as Windows-1252,
rather than being mis-decoded whole.
"""

from __future__ import annotations

import codecs
import re

_DECLARED = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""",
    re.IGNORECASE,
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def _stray_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    byte = error.object[error.start : error.start + 1]
    return byte.decode("cp1252", errors="replace"), error.start + 1


codecs.register_error("verbatim-cp1252", _stray_as_cp1252)


def declared_charset(data: bytes) -> str | None:
    """The charset named in the first 4 KB (meta charset or XML declaration), if Python knows it."""
    match = _DECLARED.search(data[:4096])
    if not match:
        return None
    name = (match.group(1) or match.group(2)).decode("ascii", errors="ignore").lower()
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, how it was decoded). Never raises."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(name, errors="replace"), name
    declared = declared_charset(data)
    if declared and declared not in ("utf-8", "ascii"):
        try:
            return data.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass  # the declaration is wrong: fall through to the content's own evidence
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if declared in ("utf-8", "ascii") or _UTF8_MULTIBYTE.search(data):
        return data.decode("utf-8", errors="verbatim-cp1252"), "utf-8 (stray bytes read as windows-1252)"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        return str(best), best.encoding
    return data.decode("cp1252", errors="replace"), "windows-1252 (guessed)"

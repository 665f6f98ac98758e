"""Read a multipart upload from the request stream with the limits enforced while it arrives.

Starlette's parser spools file parts to temporary files (1 MB in memory, then disk) but bounds only
the size of plain fields. This one also stops a file part as soon as it passes the upload limit (413,
without reading the rest) and refuses an unsupported suffix as soon as the part's headers arrive (415).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from verbatim.ingest.uploads import FileTooLarge, Incoming, check_suffix, plain_name
from verbatim.service.api.security import UPLOAD_MAX_FILES
from verbatim.service.qa.errors import BadUploadName

MAX_FILES = UPLOAD_MAX_FILES
MAX_FIELDS = 20


class BadMultipart(BadUploadName):
    """The body is no valid multipart form."""


class _LimitedParser(MultiPartParser):
    def __init__(self, request: Request, max_bytes: int) -> None:
        super().__init__(request.headers, request.stream(), max_files=MAX_FILES, max_fields=MAX_FIELDS)
        self.max_bytes = max_bytes
        self._sizes: dict[int, int] = {}

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        upload = self._current_part.file
        if upload is not None:
            check_suffix(plain_name(upload.filename or ""))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        upload = self._current_part.file
        if upload is not None:
            size = self._sizes.get(id(upload), 0) + (end - start)
            self._sizes[id(upload)] = size
            if size > self.max_bytes:
                raise FileTooLarge(
                    f"{upload.filename!r} is over the upload limit of {self.max_bytes:,} bytes "
                    "(VERBATIM_MAX_UPLOAD_BYTES)"
                )
        super().on_part_data(data, start, end)


@dataclass
class Form:
    """The fields and files of an upload."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[Incoming] = field(default_factory=list)
    uploads: list[UploadFile] = field(default_factory=list)

    async def close(self) -> None:
        for upload in self.uploads:
            await upload.close()


async def read_form(request: Request, max_bytes: int, file_field: str = "files") -> Form:
    """Parse the request's multipart body (files of `file_field`, other fields as text)."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        raise BadMultipart("expected a multipart/form-data body with one or more 'files' fields")
    try:
        data = await _LimitedParser(request, max_bytes).parse()
    except MultiPartException as exc:
        raise BadMultipart(f"invalid multipart body: {exc.message}") from exc
    form = Form()
    for name, value in data.multi_items():
        if isinstance(value, UploadFile):
            form.uploads.append(value)
            if name != file_field:
                await form.close()
                raise BadMultipart(f"unexpected file field {name!r}: send files as {file_field!r}")
            form.files.append(Incoming(value.filename or "", value.file))
        else:
            form.fields[name] = value
    return form

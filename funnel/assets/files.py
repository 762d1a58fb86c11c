"""Asset files are untrusted (docs/assets.md, "File safety").

:func:`check_upload` reads an uploaded file once and either returns what the services store
(a sanitised name, the type found by content, size and digest) or raises
``ValidationError({"file": reason})`` before anything is stored. The rules:

- at most ``settings.ASSETS_MAX_BYTES`` (25 MB by default);
- the type is told by the file's content (the ``filetype`` library reads its magic bytes),
  and must be on the allow-list: PDF, Office (OOXML, OpenDocument and the older OLE2 files),
  CSV, and raster images (PNG, JPEG, GIF, WebP). The name's extension must be one of that
  type's: an HTML page named ``.pdf`` is refused, and so is a PDF named ``.html``;
- an OOXML or OpenDocument file is a zip: it must really open as one and hold the parts of
  its kind (``word/`` for .docx …); a CSV must be UTF-8 text with no NUL byte that does not
  open like markup (``<``): no HTML or SVG gets in as "CSV";
- SVG is not accepted at all (it may carry script), nor is anything else.

:func:`safe_name` keeps the last path component only, in letters, digits, ``-``, ``_`` and
``.``: no ``../`` or absolute path can reach the storage, which also refuses any path outside
its root.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata
import zipfile
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

#: How much of the start of a file the checks read.
_HEAD_BYTES = 8192
_NAME_MAX = 120


@dataclass(frozen=True)
class Kind:
    label: str
    content_type: str
    extensions: tuple[str, ...]


_PDF = Kind("PDF", "application/pdf", ("pdf",))
_CSV = Kind("CSV", "text/csv", ("csv",))
_OLE = {
    "doc": Kind("Word 97–2003 document", "application/msword", ("doc",)),
    "xls": Kind("Excel 97–2003 workbook", "application/vnd.ms-excel", ("xls",)),
    "ppt": Kind("PowerPoint 97–2003 deck", "application/vnd.ms-powerpoint", ("ppt",)),
}
#: Zip-based Office formats: extension → (kind, a part name prefix the zip must hold).
_ZIPPED = {
    "docx": (
        Kind(
            "Word document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ("docx",),
        ),
        "word/",
    ),
    "xlsx": (
        Kind(
            "Excel workbook",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ("xlsx",),
        ),
        "xl/",
    ),
    "pptx": (
        Kind(
            "PowerPoint deck",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ("pptx",),
        ),
        "ppt/",
    ),
    "odt": (Kind("OpenDocument text", "application/vnd.oasis.opendocument.text", ("odt",)), ""),
    "ods": (
        Kind(
            "OpenDocument spreadsheet", "application/vnd.oasis.opendocument.spreadsheet", ("ods",)
        ),
        "",
    ),
    "odp": (
        Kind(
            "OpenDocument presentation", "application/vnd.oasis.opendocument.presentation", ("odp",)
        ),
        "",
    ),
}
_IMAGES = {
    "image/png": Kind("PNG image", "image/png", ("png",)),
    "image/jpeg": Kind("JPEG image", "image/jpeg", ("jpg", "jpeg")),
    "image/gif": Kind("GIF image", "image/gif", ("gif",)),
    "image/webp": Kind("WebP image", "image/webp", ("webp",)),
}
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")

ALLOWED_EXTENSIONS = sorted(
    {"pdf", "csv", *_OLE, *_ZIPPED} | {e for k in _IMAGES.values() for e in k.extensions}
)


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str
    size: int
    sha256: str


def safe_name(name: str) -> str:
    """The last component of ``name`` in ``[A-Za-z0-9._-]``, without leading dots, at most
    120 characters with its extension kept; ``file`` when nothing is left."""
    name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    name = posixpath.basename(name.replace("\\", "/")).strip()
    name = re.sub(r"\s+", "_", name)
    name = re.sub(r"[^A-Za-z0-9._-]", "", name).lstrip(".-")
    name = re.sub(r"\.{2,}", ".", name)
    if len(name) > _NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:10] if dot else ""
        name = (stem if dot else name)[: _NAME_MAX - len(ext) - 1] + (f".{ext}" if ext else "")
    return name or "file"


def _extension(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return ext.lower() if dot else ""


def _refuse(reason: str) -> ValidationError:
    return ValidationError({"file": reason})


def _read_all(upload: UploadedFile, limit: int) -> tuple[bytes, int, str]:
    """The first bytes, the size and the SHA-256, reading in chunks and stopping past the
    limit (the upload's declared size is not trusted alone)."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    upload.seek(0)
    for chunk in upload.chunks():
        size += len(chunk)
        if size > limit:
            raise _refuse(_too_big(limit))
        if len(head) < _HEAD_BYTES:
            head += chunk[: _HEAD_BYTES - len(head)]
        digest.update(chunk)
    upload.seek(0)
    return head, size, digest.hexdigest()


def _too_big(limit: int) -> str:
    return f"The file is larger than the limit of {limit / (1024 * 1024):.3g} MB."


def _zipped_kind(upload: UploadedFile, ext: str) -> Kind:
    kind, part = _ZIPPED[ext]
    try:
        with zipfile.ZipFile(upload) as archive:
            names = archive.namelist()
            if ext in ("docx", "xlsx", "pptx"):
                ok = "[Content_Types].xml" in names and any(n.startswith(part) for n in names)
            else:
                ok = (
                    "mimetype" in names
                    and archive.read("mimetype").decode("ascii", "replace").strip()
                    == kind.content_type
                )
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, NotImplementedError):
        ok = False
    finally:
        upload.seek(0)
    if not ok:
        raise _refuse(f"The file is named .{ext} but is not a {kind.label}.")
    return kind


def _csv_ok(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    try:
        head[:-4].decode("utf-8")  # a cut multi-byte character may end the head
    except UnicodeDecodeError:
        return False
    return not text.startswith("<")


def check_upload(upload: UploadedFile, *, max_bytes: int | None = None) -> CheckedFile:
    """What to store of ``upload``, or ``ValidationError({"file": reason})``."""
    limit = settings.ASSETS_MAX_BYTES if max_bytes is None else max_bytes
    if upload.size is not None and upload.size > limit:
        raise _refuse(_too_big(limit))
    name = safe_name(upload.name or "")
    ext = _extension(name)
    if ext not in ALLOWED_EXTENSIONS:
        raise _refuse(
            f"Files of type .{ext or '(none)'} are not accepted. Accepted: "
            + ", ".join(f".{e}" for e in ALLOWED_EXTENSIONS)
            + "."
        )
    head, size, sha256 = _read_all(upload, limit)
    if size == 0:
        raise _refuse("The file is empty.")
    guessed = filetype.guess(head)
    mime = guessed.mime if guessed else ""
    if ext == "pdf":
        if not head.startswith(b"%PDF-"):
            raise _refuse("The file is named .pdf but its content is not a PDF.")
        kind = _PDF
    elif ext in _OLE:
        if not head.startswith(_OLE_MAGIC):
            raise _refuse(f"The file is named .{ext} but is not a {_OLE[ext].label}.")
        kind = _OLE[ext]
    elif ext in _ZIPPED:
        if not head.startswith(b"PK\x03\x04"):
            raise _refuse(f"The file is named .{ext} but is not a {_ZIPPED[ext][0].label}.")
        kind = _zipped_kind(upload, ext)
    elif ext == "csv":
        if guessed is not None or not _csv_ok(head):
            raise _refuse("The file is named .csv but is not plain UTF-8 text.")
        kind = _CSV
    else:
        kind = _IMAGES.get(mime)
        if kind is None or ext not in kind.extensions:
            raise _refuse(f"The file is named .{ext} but its content is not that image type.")
    return CheckedFile(name=name, content_type=kind.content_type, size=size, sha256=sha256)

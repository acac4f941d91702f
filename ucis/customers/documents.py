"""Rules for documents attached to a customer (CUS-4): scanned IDs, contracts, photos.

Pure: what a file *is* is decided from its first bytes (its "magic number"), never from the name
or the content type the browser sent — an HTML page or a program renamed ``.jpg`` is refused, a
PNG named ``.pdf`` is stored as the PNG it is, under the extension of its real type.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _

KINDS: tuple[str, ...] = ("id_scan", "contract", "photo", "other")

# How many leading bytes ``sniff_type`` needs.
SNIFF_BYTES = 16
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class FileType:
    content_type: str
    extension: str
    label: str


PDF = FileType("application/pdf", ".pdf", "PDF")
JPEG = FileType("image/jpeg", ".jpg", "JPEG")
PNG = FileType("image/png", ".png", "PNG")
WEBP = FileType("image/webp", ".webp", "WebP")
TIFF = FileType("image/tiff", ".tif", "TIFF")
ALLOWED: tuple[FileType, ...] = (PDF, JPEG, PNG, WEBP, TIFF)


def sniff_type(head: bytes) -> FileType | None:
    """The allowed type whose signature ``head`` starts with, else None."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    return None


def clean_file_name(name: str) -> str:
    """The name as the uploader's computer called it, without any directory part or control
    characters, shortened to fit (the stored file never uses it)."""
    text = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
    if len(text) > MAX_NAME_LENGTH:
        stem, dot, ext = text.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        text = (stem if keep else text)[:MAX_NAME_LENGTH - len(keep) - 1] + ("." + keep if keep else "")
    return text or "file"


def check_upload(*, name: str, size: int, head: bytes, max_bytes: int, kind: str) -> FileType:
    """The real type of an upload, or ``DomainError`` naming ``file`` (or ``kind``)."""
    if kind not in KINDS:
        raise DomainError("kind", _("unknown attachment kind %(kind)s; expected one of %(expected)s"), kind=kind,
                          expected=", ".join(KINDS))
    if size <= 0:
        raise DomainError("file", _("the file is empty"))
    if size > max_bytes:
        raise DomainError("file", _("the file is %(size)s; at most %(max)s may be attached"),
                          size=human_size(size), max=human_size(max_bytes))
    found = sniff_type(head)
    if found is None:
        raise DomainError("file", _("%(name)s is not a PDF, JPEG, PNG, WebP or TIFF file (judged by its content, "
                                    "not its name)"), name=clean_file_name(name))
    return found


def human_size(size: int) -> str:
    """``10485760`` → ``"10 MB"``, ``1536`` → ``"1.5 KB"`` (binary units, one decimal at most)."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            text = f"{value:.1f}".rstrip("0").rstrip(".") if unit != "bytes" else str(size)
            return f"{text} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover - the loop always returns

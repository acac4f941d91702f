"""Sending stored uploads back: always as a download, with the type recorded at upload, never
sniffed or rendered by the browser on our origin (an uploaded HTML or SVG cannot run as a page)."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404


def stored_file_response(stored: Any, *, filename: str, content_type: str) -> FileResponse:
    """``stored`` is a ``FieldFile``; a file missing from storage is a 404, like a missing row."""
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404("the stored file is missing") from None
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response

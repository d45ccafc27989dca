"""What one HTTP request may ask of the server, and the ASGI guard that refuses an oversized body before it is
read (multipart parsing would otherwise spool any upload to disk first)."""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["ServeLimits", "BodyLimit"]

#: Room for the form fields and multipart framing beside the file itself.
FORM_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class ServeLimits:
    max_upload_mb: float = 20.0       # the largest clip file accepted
    max_seconds: float = 120.0        # the longest clip accepted
    request_timeout_s: float = 60.0   # the longest a request may take (504 after it)
    max_new_tokens: int = 40          # the explanation length limit (a request may ask for less)

    def __post_init__(self) -> None:
        if not (self.max_upload_mb > 0 and self.max_seconds > 0 and self.request_timeout_s > 0
                and self.max_new_tokens > 0):
            raise ValueError(f"serve limits must be positive, got {self}")

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


class BodyLimit:
    """Pure ASGI middleware: a POST whose ``Content-Length`` exceeds ``max_bytes`` (plus room for the form
    fields) gets 413 ``{"error": ...}`` before any of its body is read; a POST without a length gets 411 (the
    server (h11) holds every body to its declared length, so the length is the limit)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "POST":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is None or not length.isdigit():
                return await _send_error(send, 411, "upload: the request needs a Content-Length header")
            if int(length) > self.max_bytes + FORM_OVERHEAD:
                return await _send_error(send, 413, f"upload: the request is larger than the limit of "
                                                    f"{self.max_bytes / 2**20:g} MB")
        return await self.app(scope, receive, send)


async def _send_error(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

"""The little HTTP client plumbing the gates and the webhooks share (standard library only).

Credentials go only where the caller sends them: the opener never follows a redirect. Error
wording is one line, and a URL's ``user:password@`` part never reaches a message.
"""

from __future__ import annotations

import base64
import re
import ssl
import urllib.parse
import urllib.request
from typing import Any

from fleet.errors import UserError

DETAIL_LIMIT = 200
"""Default length of a one-line detail."""

_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def no_redirect_opener(ca_file: str | None = None) -> urllib.request.OpenerDirector:
    """An opener that never follows redirects (a 3xx comes back as an ``HTTPError``).

    ``ca_file`` (PEM) replaces the system's CA certificates for HTTPS; a file that cannot be
    read is a :class:`UserError`.
    """
    if ca_file is None:
        return urllib.request.build_opener(_NoRedirects)
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise UserError(f"cannot use CA file {ca_file}: {describe(error)}") from None
    return urllib.request.build_opener(_NoRedirects, urllib.request.HTTPSHandler(context=context))


def basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` header value for HTTP basic auth."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """``text`` with its whitespace runs collapsed, cut to ``limit`` characters (``…`` last)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe(reason: object, limit: int = DETAIL_LIMIT) -> str:
    """Why a connection failed, in a few words: the ``reason`` of a ``URLError``, or the error."""
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    return one_line(str(reason), limit) or type(reason).__name__


def without_userinfo(url: str) -> str:
    """``url`` without its user-info part (the only place a URL carries a password)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def mask_userinfo(text: str) -> str:
    """``text`` with every ``scheme://user:password@`` in it shown as ``scheme://***@``."""
    return _USERINFO.sub(r"\1***@", text)

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from fleet.errors import UserError
from fleet.http import (
    basic_auth,
    describe,
    mask_userinfo,
    no_redirect_opener,
    one_line,
    without_userinfo,
)


class _Redirecting(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path == "/elsewhere":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"followed")
            return
        self.send_response(302)
        self.send_header("Location", "/elsewhere")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    _Redirecting.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_opener_does_not_follow_a_redirect(redirecting_server: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        no_redirect_opener().open(f"{redirecting_server}/start", timeout=5)
    raised.value.close()
    assert raised.value.code == 302
    assert _Redirecting.hits == ["/start"]
    # The plain urllib opener would have followed it: the server is a real redirect.
    with urllib.request.urlopen(f"{redirecting_server}/start", timeout=5) as response:
        assert response.read() == b"followed"


def test_an_unreadable_ca_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cannot use CA file .*missing\.pem"):
        no_redirect_opener(str(tmp_path / "missing.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(UserError, match="cannot use CA file"):
        no_redirect_opener(str(garbage))


def test_basic_auth_encodes_user_and_password() -> None:
    header = basic_auth("web", "pä:ss")
    scheme, token = header.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == "web:pä:ss"


def test_one_line_collapses_whitespace_and_cuts() -> None:
    assert one_line("  a\n\tb  c ") == "a b c"
    cut = one_line("x" * 300)
    assert len(cut) == 200 and cut.endswith("…")
    assert one_line("y" * 600, limit=500) == "y" * 499 + "…"


def test_describe_names_common_connection_failures() -> None:
    assert describe(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    assert describe(TimeoutError()) == "timed out"
    assert describe(OSError("name\nor service not known")) == "name or service not known"
    assert describe(OSError()) == "OSError"


def test_user_info_is_removed_or_masked() -> None:
    assert (
        without_userinfo("https://bob:s3cret@mimir.example/prometheus") == "https://mimir.example/prometheus"
    )
    assert without_userinfo("https://mimir.example/prometheus") == "https://mimir.example/prometheus"
    text = "POST https://bob:s3cret@hooks.example/x failed; see http://a@b.example"
    masked = mask_userinfo(text)
    assert "s3cret" not in masked and "bob" not in masked
    assert masked == "POST https://***@hooks.example/x failed; see http://***@b.example"

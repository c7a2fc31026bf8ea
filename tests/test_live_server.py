"""The live server the browser tests use (tests/helpers.py, ``served``) stops cleanly: a
browser's idle connections do not keep request threads running after the test."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.request

import pytest

from .helpers import served


def _request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


def test_the_live_server_stops_with_idle_and_keep_alive_connections_open(app):
    before = set(_request_threads())
    with served(app) as base:
        port = int(base.rsplit(":", 1)[1])
        preconnected = socket.create_connection(("127.0.0.1", port))  # opened, nothing sent (Chromium does this)
        kept_alive = http.client.HTTPConnection("127.0.0.1", port)
        kept_alive.request("GET", "/auth/login")
        response = kept_alive.getresponse()
        assert response.status == 200 and response.version == 11
        response.read()
        time.sleep(0.1)  # both threads are waiting on their connections now
        started = time.monotonic()
    assert time.monotonic() - started < 2
    assert set(_request_threads()) - before == set()
    preconnected.settimeout(2)
    assert preconnected.recv(1) == b""  # the server's end was shut down
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/auth/login", timeout=2)

"""`tpt_live.monitor.webview`: page, overlay image, JSON status, MJPEG, token; `tpt-live monitor` end to end."""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from tpt_live.errors import InputError, SourceError
from tpt_live.monitor.evidence import encode_jpeg, enforce_retention
from tpt_live.monitor.state import LiveState
from tpt_live.monitor.webview import (
    WebView,
    allowed_hosts,
    host_allowed,
    origin_allowed,
    parse_bind,
    resolve_token,
)

STATE = {"t": 12.5, "present": True, "energy": 0.42, "posture": "supine"}


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), ""


@pytest.fixture()
def live() -> LiveState:
    state = LiveState()
    image = np.zeros((48, 64, 3), np.uint8)
    image[10:30, 20:40] = (0, 0, 255)
    state.publish(encode_jpeg(image), STATE)
    state.add_event({"event": "alert", "kind": "no_movement", "t": 30.0, "message": "no movement for 20.0 s"})
    return state


def test_page_overlay_and_state(live: LiveState) -> None:
    web = WebView(live, "127.0.0.1", 0, None)
    try:
        code, body, ctype = _get(web.url)
        page = body.decode()
        assert code == 200 and ctype.startswith("text/html")
        assert "Not a medical device" in page and 'src="stream.mjpg"' in page and "status.json" in page
        code, body, ctype = _get(web.url + "frame.jpg")
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert code == 200 and ctype == "image/jpeg" and image.shape == (48, 64, 3)
        assert image[20, 30, 2] > 200 and image[20, 30, 0] < 60  # the red square of the overlay frame
        code, body, _ = _get(web.url + "status.json")
        status = json.loads(body)
        assert status["state"] == STATE and status["alerts"][0]["kind"] == "no_movement"
        assert status["activity"] == [[12.5, 0.42, True]] and "medical" in status["notice"]
        with urllib.request.urlopen(web.url + "stream.mjpg", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = r.read(200)
        assert head.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in head
    finally:
        web.close()


def test_non_loopback_bind_needs_the_token(live: LiveState) -> None:
    with pytest.raises(InputError, match="token"):
        WebView(live, "0.0.0.0", 0, None)
    token = resolve_token("0.0.0.0", None)
    assert token and resolve_token("127.0.0.1", None) is None
    web = WebView(live, "0.0.0.0", 0, token)
    base = f"http://127.0.0.1:{web.port}/"
    try:
        for path in ("", "status.json", "frame.jpg", "stream.mjpg"):
            assert _get(base + path)[0] == 401
        assert _get(base + "status.json?token=wrong")[0] == 401
        assert _get(base + f"status.json?token={token}")[0] == 200
        assert _get(base + "frame.jpg", {"Authorization": f"Bearer {token}"})[0] == 200
        code, body, _ = _get(base + f"?token={token}")
        assert code == 200 and f"stream.mjpg?token={token}" in body.decode()
    finally:
        web.close()


def test_parse_bind() -> None:
    assert parse_bind("127.0.0.1:8765") == ("127.0.0.1", 8765) and parse_bind("[::1]:80") == ("::1", 80)
    with pytest.raises(InputError, match="HOST:PORT"):
        parse_bind("8765")


def test_retention_by_age_and_size(tmp_path: Path) -> None:
    for i, size in enumerate((100, 200, 300)):
        p = tmp_path / f"{i}.mp4"
        p.write_bytes(b"x" * size)
        os.utime(p, (1000.0 + i, 1000.0 + i))
    deleted = enforce_retention(tmp_path, days=1.0, gb=350e-9, now=1000.0 + 86400 + 0.5)
    assert [p.name for p in deleted] == ["0.mp4", "1.mp4"]  # 0 is too old; then 1 to get under 350 bytes
    assert [p.name for p in tmp_path.iterdir()] == ["2.mp4"]


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="headless Chromium test: /usr/bin/chromium absent")
def test_page_renders_in_headless_chromium(live: LiveState) -> None:
    web = WebView(live, "127.0.0.1", 0, None)
    try:
        out = subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--virtual-time-budget=3000",
                              "--dump-dom", web.url], capture_output=True, text=True, timeout=60)  # fmt: skip
        assert "no movement for 20.0 s" in out.stdout and "supine" in out.stdout
        assert '<img id="v" src="stream.mjpg' in out.stdout  # the live overlay image
    finally:
        web.close()


def test_monitor_cli_end_to_end(tmp_path: Path) -> None:
    """`tpt-live monitor` on a tiny file with a tiny model: banner, events on stdout, outputs; bad args exit 2."""
    from track_helpers import tiny_model_file
    from typer.testing import CliRunner

    from tpt_live.cli import app
    from tpt_live.synth import SynthConfig, write_clip
    from tpt_live.synth.scenarios import render_scenario

    clip = render_scenario(SynthConfig(width=64, height=64, frames=40, fps=5.0, seed=3), "absent")
    video, _ = write_clip(clip, tmp_path)
    model = tiny_model_file(tmp_path)
    out = tmp_path / "mon"
    args = ["monitor", str(video), "--model", str(model), "--backend", "torch", "--out", str(out), "--quiet"]
    received = tmp_path / "notified.json"
    notify = f"cmd:sh -c 'cat > {received}'"
    result = CliRunner().invoke(app, [*args, "--no-infant-s", "3", "--notify", notify])
    assert result.exit_code == 0, result.output
    assert "Not a medical device" in result.output
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    assert events and events[0]["kind"] == "no_infant" and json.dumps(events[0]) in result.output
    assert json.loads((out / "summary.json").read_text())["alerts"] == {"no_infant": 1}
    assert json.loads(received.read_text())["kind"] == "no_infant"  # the program got the event on stdin
    assert Path(events[0]["snapshot"]).is_file()
    bad = CliRunner().invoke(app, [*args, "--notify", "mail:me"])
    assert bad.exit_code != 0 and "--notify" in str(bad.exception)
    missing = CliRunner().invoke(app, ["monitor", str(tmp_path / "none.mp4"), "--out", str(out), "--quiet"])
    assert isinstance(missing.exception, SourceError) and "Not a medical device" not in missing.output


def _raw(port: int, request: bytes, family: int = socket.AF_INET, host: str = "127.0.0.1") -> bytes:
    """Send one raw HTTP request and return the whole response (headers the test sets itself)."""
    with socket.socket(family) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_foreign_host_and_origin_are_refused(live: LiveState) -> None:
    web = WebView(live, "127.0.0.1", 0, None)
    try:

        def get(headers: str) -> int:
            return _status(_raw(web.port, f"GET /frame.jpg HTTP/1.1\r\n{headers}\r\n".encode()))

        assert get("Host: evil.example.com\r\n") == 403  # a DNS-rebinding page names its own domain
        assert get("Host: evil.example.com:8765\r\n") == 403
        assert get("Host: 192.168.1.20\r\n") == 403  # another address than the bound one
        assert get("") == 403  # no Host at all
        assert get("Host: [bad\r\n") == 403
        for host in ("127.0.0.1", f"127.0.0.1:{web.port}", "localhost", f"LOCALHOST:{web.port}", "app.localhost"):
            assert get(f"Host: {host}\r\n") == 200, host
        assert get("Host: 127.0.0.1\r\nOrigin: http://evil.example.com\r\n") == 403
        assert get("Host: 127.0.0.1\r\nOrigin: null\r\n") == 403
        assert get(f"Host: 127.0.0.1\r\nOrigin: http://localhost:{web.port}\r\n") == 200
    finally:
        web.close()


def test_host_rules_per_bind_address() -> None:
    names = allowed_hosts("0.0.0.0")
    assert host_allowed("10.1.2.3:8765", "0.0.0.0", names)  # a wildcard bind: any address literal
    assert host_allowed(socket.gethostname(), "0.0.0.0", names)  # and this machine's name
    assert not host_allowed("evil.example.com", "0.0.0.0", names)
    names = allowed_hosts("192.168.7.9")
    assert host_allowed("192.168.7.9:80", "192.168.7.9", names) and host_allowed("[::1]:80", "192.168.7.9", names)
    assert not host_allowed("192.168.7.10", "192.168.7.9", names)
    assert host_allowed("[::1]:8765", "::1", allowed_hosts("::1"))
    assert not origin_allowed("file://", "127.0.0.1", allowed_hosts("127.0.0.1"))


def test_token_from_environment_or_file(tmp_path: Path, live: LiveState) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-from-file\nignored\n")
    assert resolve_token("127.0.0.1", None, environ={"TPT_LIVE_TOKEN": " env-token \n"}) == "env-token"
    assert resolve_token("127.0.0.1", None, environ={"TPT_LIVE_TOKEN_FILE": str(token_file)}) == "s3cret-from-file"
    assert resolve_token("127.0.0.1", None, token_file, environ={"TPT_LIVE_TOKEN": "x"}) == "s3cret-from-file"
    assert resolve_token("127.0.0.1", "cli", token_file, environ={}) == "cli"  # --token wins
    assert resolve_token("127.0.0.1", None, environ={}) is None
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InputError, match="empty"):
        resolve_token("127.0.0.1", None, tmp_path / "empty", environ={})
    with pytest.raises(InputError, match="cannot be read"):
        resolve_token("127.0.0.1", None, environ={"TPT_LIVE_TOKEN_FILE": str(tmp_path / "missing")})
    web = WebView(live, "127.0.0.1", 0, "a b&c")  # characters that need quoting in the page's URLs
    try:
        code, body, _ = _get(web.url)
        assert code == 200 and "stream.mjpg?token=a%20b%26c" in body.decode()
        assert _get(web.url.replace("?", "status.json?"))[0] == 200
    finally:
        web.close()


def test_port_in_use_is_one_line(live: LiveState) -> None:
    web = WebView(live, "127.0.0.1", 0, None)
    try:
        with pytest.raises(InputError, match="in use"):
            WebView(live, "127.0.0.1", web.port, None)
    finally:
        web.close()


def test_clients_that_hang_up_leave_no_traceback(live: LiveState, capfd, caplog) -> None:
    live.publish(encode_jpeg(np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)), STATE)
    web = WebView(live, "127.0.0.1", 0, None)
    try:
        for route in ("frame.jpg", "stream.mjpg", "status.json", ""):
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", web.port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset on close
                s.sendall(f"GET /{route} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                s.recv(10)
                s.close()
        for _ in range(3):  # frames keep coming, so each stream handler writes into a closed socket
            live.publish(live.jpeg, STATE)
            time.sleep(0.3)
        assert _get(web.url + "status.json")[0] == 200  # still serving
    finally:
        web.close()
    assert "Traceback" not in capfd.readouterr().err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_many_concurrent_clients_all_served(live: LiveState) -> None:
    """40 clients at once (half polling, half MJPEG); the soak with 100 for 30 s is benchmarks/web_soak.py."""
    web = WebView(live, "127.0.0.1", 0, None)
    failures: list[str] = []
    frames: list[int] = []
    go = threading.Barrier(41)
    stop = threading.Event()

    def poll() -> None:
        go.wait()
        for route in ("status.json", "frame.jpg") * 5:
            code = _get(web.url + route)[0]
            if code != 200:
                failures.append(f"{route}: {code}")

    def stream() -> None:
        go.wait()
        got = 0
        with urllib.request.urlopen(web.url + "stream.mjpg", timeout=10) as r:
            while got < 5:
                got += r.readline().startswith(b"Content-Length:")
        frames.append(got)

    def publish() -> None:
        while not stop.is_set():
            live.publish(live.jpeg, STATE)
            time.sleep(0.05)

    clients = [threading.Thread(target=poll) for _ in range(20)] + [threading.Thread(target=stream) for _ in range(20)]
    publisher = threading.Thread(target=publish)
    try:
        for c in clients:
            c.start()
        publisher.start()
        go.wait()
        for c in clients:
            c.join(60)
    finally:
        stop.set()
        publisher.join()
        web.close()
    assert failures == [] and frames == [5] * 20

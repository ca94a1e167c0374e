"""`tpt_live.monitor.webview`: page, overlay image, JSON status, MJPEG, token; `tpt-live monitor` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.monitor.evidence import encode_jpeg, enforce_retention
from tpt_live.monitor.state import LiveState
from tpt_live.monitor.webview import WebView, parse_bind, resolve_token

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

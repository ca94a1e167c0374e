"""`tpt-live track` end to end in a subprocess: exit codes, one-line errors, clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from track_helpers import tiny_model_file, write_video
from typer.testing import CliRunner

from tpt_live.track.outputs import validate

CLI = [sys.executable, "-c", "from tpt_live.cli import main; main()"]


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    return write_video(d / "v.mp4", 12, 64, 48), tiny_model_file(d)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["missing.mp4"], 3, "no such file"),
        (["ftp://host/v.mp4"], 2, "unsupported source"),
        (["{video}", "--roi", "1,2,3"], 2, "--roi"),
        (["{video}", "--format", "xml"], 2, "--format"),
        (["{empty}"], 3, "empty"),
        (["{video}", "--locate", "--localiser", "missing.safetensors"], 2, "localiser file"),
        (["{video}", "--look-again", "-1"], 2, "--look-again -1.0 must be >= 0"),
        (["{video}", "--handedness", "missing.safetensors"], 2, "missing.safetensors"),
        (["{video}", "--handedness", "default"], 2, "--handedness default: it takes 128-px located inputs"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(assets, tmp_path, args, code, needle):
    video, model = assets
    (tmp_path / "e.mp4").write_bytes(b"")
    args = [a.format(video=video, empty=tmp_path / "e.mp4") for a in args]
    r = _run("track", *args, "--out", str(tmp_path / "o.json"), "--model", str(model), "--backend", "torch", "-q")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == code, r.stderr
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in r.stderr


def test_show_without_a_display_is_refused(assets, tmp_path):
    video, model = assets
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = _run("track", str(video), "--out", str(tmp_path / "o.json"), "--model", str(model), "--show", env=env)
    assert r.returncode == 2 and "needs a display" in r.stderr and "Traceback" not in r.stderr


def test_track_writes_a_valid_file(assets, tmp_path):
    video, model = assets
    out = tmp_path / "o.json"
    r = _run("track", str(video), "--out", str(out), "--model", str(model), "--backend", "torch")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    validate(doc, "json_file")
    assert len(doc["frames"]) == 12 and "12 frames" in r.stderr
    assert doc["crop"] == {"mode": "full", "roi": None, "head": "up"}
    assert doc["backend"]["flip"] is False
    assert "handedness" not in doc  # the shipped one reads 128-px located crops: skipped beside this 32-px model


def test_the_handedness_model_is_named_in_the_header(assets, tmp_path):
    from track_helpers import FakeBackend

    from tpt_live.track.runner import TrackRequest, run_track

    class Second(FakeBackend):
        model_name, model_digest = "second", "2"

    opened = []

    def factory(model=None, **kwargs):
        opened.append(Second() if model == "second" else FakeBackend())
        return opened[-1]

    out = tmp_path / "o.json"
    (summary,) = run_track(TrackRequest((str(assets[0]),), out, handedness="second", backend="torch"), factory)
    doc = json.loads(out.read_text())
    validate(doc, "json_file")
    assert summary.error is None and doc["handedness"] == {"name": "second", "digest": "2"}
    assert [type(b).__name__ for b in opened] == ["FakeBackend", "Second"]


def test_flip_is_recorded(assets, tmp_path):
    video, model = assets
    out = tmp_path / "o.json"
    r = _run("track", str(video), "--out", str(out), "--model", str(model), "--backend", "torch", "-q", "--flip")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    validate(doc, "json_file")
    assert doc["backend"]["flip"] is True and len(doc["frames"]) == 12


@pytest.mark.parametrize(("fmt", "sig"), [("json", signal.SIGINT), ("jsonl", signal.SIGTERM)])
def test_interrupt_leaves_valid_output_with_every_frame(assets, tmp_path, fmt, sig):
    _, model = assets
    video = write_video(tmp_path / "long.mkv", 3000, 64, 48, codec="mjpeg")
    out = tmp_path / f"o.{fmt}"
    cmd = [*CLI, "track", str(video), "--out", str(out), "--model", str(model), "--backend", "torch", "--batch", "1"]
    # a child of a background job inherits an ignored SIGINT: give it the default, as a terminal would
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20_000):
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = " ".join(stderr.split())  # rich wraps long lines
    assert re.search(r"\d+ frames \(\d+ ok, 0 dropped, 0 decode errors\), [\d.]+ frames/s", summary), stderr
    if fmt == "json":
        doc = json.loads(out.read_text())
        validate(doc, "json_file")
        frames = doc["frames"]
    else:
        lines = [json.loads(x) for x in Path(out).read_text().splitlines()]
        validate(lines[0], "header")
        frames = lines[1:]
    assert 0 < len(frames) < 3000
    assert [f["idx"] for f in frames] == list(range(len(frames)))


def test_options_reach_the_delegate(monkeypatch, tmp_path):
    import engines
    from tpt_live.cli import app
    from tpt_live.track import runner

    seen = {}

    def fake_run_track(request, open_backend, progress=None):
        seen["request"], seen["open"] = request, open_backend
        return []

    monkeypatch.setattr(runner, "run_track", fake_run_track)
    args = ["track", "a.mp4", "b.mp4", "--out", str(tmp_path), "--format", "csv", "--roi", "1,2,30,40"]
    args += ["--jobs", "2", "--no-smooth", "--beta", "0.5", "--reconnect", "7", "--batch", "4", "--head", "left", "-q"]
    args += ["--flip", "--handedness", "off"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    req = seen["request"]
    assert req.sources == ("a.mp4", "b.mp4") and req.fmt == "csv" and req.jobs == 2 and req.reconnect == 7
    assert req.flip and req.handedness is None
    assert req.config.roi.as_list() == [1, 2, 30, 40] and req.config.batch == 4 and req.config.head == "left"
    assert not req.config.smoothing.enabled and req.config.smoothing.beta == 0.5
    assert seen["open"] is engines.open_backend


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--out", "/proc/nope/x.json"], "--out /proc/nope/x.json: cannot create the folder /proc/nope"),
        (["--out", "{file}/x.json"], "a file is in the way"),
        (["--out", "{tmp}/o.json", "--save-video", "{file}/v.mp4"], "--save-video"),
        (["--out", "{tmp}/poses.txt"], "--out {tmp}/poses.txt: unknown suffix .txt"),
    ],
)
def test_unwritable_outputs_are_one_line(assets, tmp_path, extra, needle):
    video, model = assets
    (tmp_path / "FILE").write_text("x")
    extra = [a.format(file=tmp_path / "FILE", tmp=tmp_path) for a in extra]
    r = _run("track", str(video), *extra, "--model", str(model), "--backend", "torch", "-q")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: ") and needle.format(tmp=tmp_path) in r.stderr
    assert not (tmp_path / "poses.txt").exists()


def test_a_trailing_slash_names_a_folder(assets, tmp_path):
    """`--out run.v2/`: a folder despite the dot in its name; the source's poses go inside it."""
    video, model = assets
    r = _run("track", str(video), "--out", f"{tmp_path / 'run.v2'}/", "--model", str(model), "--backend", "torch", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "run.v2" / "v.json").read_text())["frames"]


def test_quiet_hides_info_lines_and_bare_command_has_no_empty_error(assets, tmp_path):
    video, model = assets
    r = _run("track", str(video), "--out", str(tmp_path / "o.json"), "--model", str(model), "-q")
    assert r.returncode == 0 and "INFO" not in r.stderr, r.stderr
    bare = _run()
    assert bare.returncode == 2 and "Usage" in bare.stdout + bare.stderr
    assert not [line for line in (bare.stdout + bare.stderr).splitlines() if line.strip() == "error:"]


def test_an_unexpected_error_is_one_line_with_exit_1(monkeypatch, capsys):
    from tpt_live.cli import main
    from tpt_live.track import runner

    def broken(*args, **kwargs):
        raise RuntimeError("something the code did not expect")

    monkeypatch.setattr(runner, "run_track", broken)
    monkeypatch.setattr(sys, "argv", ["tpt-live", "track", "a.mp4", "--out", "o.json", "-q"])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 1 and "Traceback" not in err
    assert (
        err.strip() == "error: unexpected RuntimeError: something the code did not expect (a bug: run with -v "
        "for the traceback and report it)"
    )


@pytest.mark.parametrize("command", ["track", "monitor"])
def test_ctrl_c_while_a_live_source_is_opening_exits_130(assets, tmp_path, command):
    """A stream that accepts the connection and never answers: FFmpeg blocks in its open for --timeout s."""
    import socket
    import threading

    _, model = assets
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    connected = threading.Event()
    held = []

    def accept() -> None:
        conn, _ = server.accept()
        held.append(conn)
        connected.set()

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/live.mjpg"
    cmd = [*CLI, command, url, "--out", str(tmp_path / ("o.json" if command == "track" else "mon")),
           "--model", str(model), "--backend", "torch", "--timeout", "60", "-q"]  # fmt: skip
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    try:
        assert connected.wait(60), "the command never connected"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)  # well before the 60 s open timeout
    finally:
        proc.kill()
        server.close()
        for conn in held:
            conn.close()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr


def test_a_missing_source_among_several_fails_alone(assets, tmp_path):
    """docs/TRACKING.md: with several sources a failing one is reported and the others go on; the exit code is
    the first failure's (3: a missing source)."""
    video, model = assets
    out = tmp_path / "poses"
    r = _run("track", str(tmp_path / "missing.mp4"), str(video), "--out", str(out), "--model", str(model),
             "--backend", "torch", "-q")  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert "missing.mp4: no such file or folder" in r.stderr and "Traceback" not in r.stderr
    records = json.loads((out / "v.json").read_text())["frames"]
    assert len(records) == 12  # the good source was tracked whole

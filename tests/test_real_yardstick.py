"""benchmarks/real_yardstick.py: which steps run with which options, what a second run reuses, what it refuses.

The steps themselves (the peer, `track`, `evaluate`) are replaced by a recorder that writes what each would write.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture()
def yardstick(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))  # it imports peer_agreement beside it, as when run as a script
    spec = importlib.util.spec_from_file_location("real_yardstick", BENCH / "real_yardstick.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ran: list[list[str]] = []

    def fake_run(cmd: list[str]) -> None:  # writes what each step would write
        ran.append(cmd)
        out = Path(cmd[cmd.index("--out") + 1]) if "--out" in cmd else None
        if cmd[1].endswith("peer_agreement.py"):
            for clip in cmd[3 : cmd.index("--out")]:
                d = out / Path(clip).stem
                d.mkdir(parents=True, exist_ok=True)
                if not (d / "peer.json").is_file():
                    (d / "peer.json").write_text(json.dumps({"from": clip}))
                (d / "agreement.json").write_text(json.dumps({"pck@0.2": 0.5 if "grey" in str(out) else 0.7}))
        elif cmd[1].endswith("grey_clip.py") and not cmd[cmd.index("--out") + 1].endswith("/"):
            out.write_bytes(b"grey")  # a clip
        elif cmd[1].endswith(("peer_photos.py", "grey_clip.py")):  # a photo folder and its COCO file
            out.mkdir(parents=True)
            (out / "people.json").write_text("{}")
        else:  # tpt-live evaluate --json OUT
            protocols = {k: {"pck@0.2": 0.4} for k in ("image", "box", "located", "box_located", "axis")}
            Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps({"protocols": protocols}))

    monkeypatch.setattr(module, "_run", fake_run)
    return module, ran


def _main(module, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["real_yardstick.py", *args])
    module.main()


def test_every_step_runs_once_and_a_second_run_reuses_what_the_first_finished(
    yardstick, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, ran = yardstick
    clips = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for c in clips:
        c.write_bytes(b"clip")
    out = tmp_path / "yard"
    common = [*map(str, clips), "--out", str(out), "--peer-python", sys.executable]
    _main(module, monkeypatch, [*common, "--model", "m.safetensors", "--localiser", "l.safetensors"])
    steps = [Path(c[1]).name if c[1] != "-m" else c[3] for c in ran]
    assert steps == ["peer_agreement.py", "grey_clip.py", "grey_clip.py", "peer_agreement.py", "peer_photos.py",
                     "grey_clip.py", "evaluate", "evaluate"]  # fmt: skip
    track_runs = [c for c in ran if c[1].endswith("peer_agreement.py")]
    for cmd in track_runs:  # the model to both, the localiser to track through --track-arg
        assert "--model" in cmd and "--track-arg=--localiser" in cmd and "--track-arg=l.safetensors" in cmd
    for cmd in (c for c in ran if "evaluate" in c):
        assert cmd[cmd.index("--model") + 1] == "m.safetensors" and cmd[cmd.index("--localiser") + 1] == "l.safetensors"
    grey_peer = json.loads((out / "grey_clips" / "a" / "peer.json").read_text())
    assert grey_peer == {"from": str(clips[0])}  # the greyscale clip is scored against the colour clip's peer
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == {"a": 0.7, "b": 0.7} and summary["grey_clips_mean"] == pytest.approx(0.5)
    assert summary["photos"] == {"located": 0.4, "box_located": 0.4, "axis": 0.4}
    ran.clear()
    _main(module, monkeypatch, common)
    steps = [Path(c[1]).name if c[1] != "-m" else c[3] for c in ran]
    assert steps == ["peer_agreement.py", "peer_agreement.py", "evaluate", "evaluate"]  # no grey clip, no photo set


def test_a_folder_of_other_inputs_and_bad_options_are_refused_before_anything_runs(
    yardstick, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module, ran = yardstick
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"clip")
    out = tmp_path / "yard"
    _main(module, monkeypatch, [str(clip), "--out", str(out), "--peer-python", sys.executable])
    ran.clear()
    for args, says in (
        ([str(clip), "--out", str(out), "--every", "4", "--peer-python", sys.executable], "other clips or another"),
        ([str(clip), "--out", str(tmp_path / "new"), "--every", "0"], "--every"),
        ([str(clip), "--out", str(tmp_path / "new"), "--peer-python", str(tmp_path / "nope")], "no peer python"),
        ([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "new")], "no such clip"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            _main(module, monkeypatch, args)
        assert exit_info.value.code == 2 and says in capsys.readouterr().err
    assert ran == []

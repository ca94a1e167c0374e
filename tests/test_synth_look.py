"""Tests of the synthetic looks: "plain" (the original renders, pinned by hashes) and "varied"."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.skeleton import JOINT_INDEX
from tpt_live.synth import SynthConfig, render_clip, render_scene, sample_scene
from tpt_live.synth.look import sample_look

# sha256 (first 16 hex digits) of the frames and of the sorted-key GT JSON, computed with the code as it
# was before the looks existed: the plain look must stay bit for bit what it was, in both worlds.
PLAIN_HASHES = {
    ("default", 0): ("e48d0f1827e5f871", "3cd08d1d60b9f8d4"),
    ("default", 1): ("aed3de91c60c2b73", "f3abac1e96e6dd33"),
    ("wide", 0): ("94877b5497b7b203", "508c456dc45aa3d3"),
    ("wide", 2): ("7f912f0069797592", "60bd075d52161508"),
}


def _hashes(clip) -> tuple[str, str]:
    frames = hashlib.sha256(clip.frames.tobytes()).hexdigest()[:16]
    gt = hashlib.sha256(json.dumps(clip.gt, sort_keys=True).encode()).hexdigest()[:16]
    return frames, gt


def _small(world: str = "default", index: int = 0, look: str = "plain", frames: int = 6) -> SynthConfig:
    return SynthConfig(width=48, height=40, frames=frames, seed=3, index=index, pose="mixed", world=world, look=look)


@pytest.mark.parametrize("key", sorted(PLAIN_HASHES))
def test_plain_look_is_bit_identical_to_before(key: tuple[str, int]) -> None:
    world, index = key
    assert _hashes(render_clip(_small(world, index))) == PLAIN_HASHES[key]
    assert _hashes(render_clip(_small(world, index))) == _hashes(render_clip(replace(_small(world, index))))


def test_bad_look_rejected() -> None:
    with pytest.raises(InputError):
        SynthConfig(look="photoreal")


@pytest.fixture(scope="module")
def varied() -> list:
    return [render_clip(_small(w, i, "varied", 8)) for w in ("default", "wide") for i in range(3)]


def test_varied_is_deterministic_and_differs_from_plain(varied: list) -> None:
    again = render_clip(_small("default", 0, "varied", 8))
    assert np.array_equal(again.frames, varied[0].frames) and again.gt == varied[0].gt
    plain = render_clip(_small("default", 0, "plain", 8))
    assert np.abs(plain.frames.astype(int) - varied[0].frames.astype(int)).mean() > 5
    # same body, motion and camera: the geometry of the ground truth is the plain one
    for key in ("kp2d", "kp3d"):
        assert [f[key] for f in plain.gt["frames"]] == [f[key] for f in varied[0].gt["frames"]]
    assert plain.gt["camera"] == varied[0].gt["camera"] and plain.gt["body"] == varied[0].gt["body"]


def test_varied_records_its_choices(varied: list) -> None:
    for clip in varied:
        app = clip.gt["appearance"]
        assert app["look"] == "varied"
        for key in ("skin", "clothing", "fabric", "background", "cover", "toys", "infrared", "jpeg_quality"):
            assert key in app
        json.dumps(clip.gt)
    assert len({c.gt["appearance"]["clothing"] + c.gt["appearance"]["background"] for c in varied}) > 1


def test_random_look_keeps_the_varied_geometry_and_dresses_every_segment_apart() -> None:
    from tpt_live.synth.body import SEGMENT_NAMES
    from tpt_live.synth.look_render import _materials

    for world, index in (("default", 0), ("wide", 1)):
        varied, rand = (render_clip(_small(world, index, look, 6)) for look in ("varied", "random"))
        for key in ("kp2d", "kp3d", "visible"):  # same body, motion, camera and occluders
            assert [f[key] for f in varied.gt["frames"]] == [f[key] for f in rand.gt["frames"]]
        assert rand.gt["appearance"]["look"] == "random" and varied.gt["appearance"]["look"] == "varied"
        assert rand.gt["appearance"]["clothing"] == varied.gt["appearance"]["clothing"]
        assert np.abs(varied.frames.astype(int) - rand.frames.astype(int)).mean() > 5
        again = render_clip(_small(world, index, "random", 6))
        assert np.array_equal(again.frames, rand.frames)
    look = sample_scene(_small("wide", 1, "random")).look
    assert look is not None and look.random_fabrics is not None
    mats = _materials(look)
    body = [n for n in SEGMENT_NAMES if n != "head"]
    assert all(mats[n] == ("fabric", look.random_fabrics[n]) for n in body)
    assert len({tuple(np.round(look.random_fabrics[n].base, 6)) for n in body}) == len(body)  # each its own


def test_training_looks_cycle() -> None:
    from trainer.localiser_train import check_look, scene_look

    assert [scene_look("mixed_random", i) for i in range(4)] == ["plain", "varied", "random", "plain"]
    assert [scene_look("mixed", i) for i in range(3)] == ["plain", "varied", "plain"]
    assert scene_look("random", 5) == "random"
    with pytest.raises(InputError, match="mixed_random"):
        check_look("photoreal")


def test_varied_visibility_agrees_with_projection(varied: list) -> None:
    for clip in varied:
        kp2d = np.array([f["kp2d"] for f in clip.gt["frames"]])
        vis = np.array([f["visible"] for f in clip.gt["frames"]])
        h, w = clip.gt["height"], clip.gt["width"]
        inside = (kp2d[..., 0] > -0.5) & (kp2d[..., 0] < w - 0.5) & (kp2d[..., 1] > -0.5) & (kp2d[..., 1] < h - 0.5)
        assert not (vis & ~inside).any()


def _with_look(config: SynthConfig, **changes: Any) -> tuple:
    scene = sample_scene(config)
    assert scene.look is not None
    bare = {"cover": "none", "toys": (), "hand": None, "bars": None}
    return scene, render_scene(replace(scene, look=replace(scene.look, **{**bare, **changes})), config)


def test_sleep_sack_hides_knees_and_ankles() -> None:
    config = SynthConfig(width=96, height=96, frames=10, seed=1, pose="supine", look="varied")
    _, clip = _with_look(config, clothing="sleep_sack")
    vis = np.array([f["visible"] for f in clip.gt["frames"]])
    legs = [JOINT_INDEX[f"{s}_{p}"] for s in ("left", "right") for p in ("knee", "ankle")]
    assert vis[:, legs].mean() < 0.2
    assert vis[:, JOINT_INDEX["head"]].all()
    _, onesie = _with_look(config, clothing="onesie")
    vis = np.array([f["visible"] for f in onesie.gt["frames"]])
    assert vis[:, legs].mean() > 0.8


def test_uncluttered_varied_visibility_close_to_plain() -> None:
    config = SynthConfig(width=96, height=96, frames=10, seed=2, pose="mixed", look="varied")
    _, clip = _with_look(config, clothing="onesie")
    plain = render_clip(replace(config, look="plain"))
    a = np.array([f["visible"] for f in clip.gt["frames"]])
    b = np.array([f["visible"] for f in plain.gt["frames"]])
    assert (a == b).mean() > 0.9  # limbs are a little chubbier in the varied look


def test_adult_hand_and_bars_occlude() -> None:
    from tpt_live.synth.look import Bars

    config = SynthConfig(width=96, height=96, frames=4, seed=4, pose="supine", look="varied")
    scene = sample_scene(config)
    assert scene.look is not None
    bars = Bars(0.0, 0.5, 0.03, 0.012, 1.0, 1.0, np.ones(3))  # bars in front of the whole picture
    _, clip = _with_look(config, bars=bars)
    _, free = _with_look(config)
    hidden = np.array([f["visible"] for f in clip.gt["frames"]]).mean()
    assert hidden < np.array([f["visible"] for f in free.gt["frames"]]).mean() - 0.2


def test_sample_look_draws_everything_sometimes() -> None:
    looks = [sample_look(np.random.default_rng([0, i, 10])) for i in range(200)]
    assert {lk.clothing for lk in looks} == {"onesie", "bodysuit", "diaper", "sleep_sack"}
    assert {lk.background for lk in looks} == {"sheet", "blanket", "wood", "carpet", "playmat"}
    assert 0.07 < np.mean([lk.infrared for lk in looks]) < 0.25
    tones = [lk.skin_tone for lk in looks]
    assert min(tones) < 0.05 and max(tones) > 0.95


def test_cli_look_varied(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tpt_live.cli import main

    args = ["tpt-live", "synth", str(tmp_path), "--videos", "1", "--frames", "4", "--size", "48x32", "--look"]
    monkeypatch.setattr(sys, "argv", [*args, "varied", "--preview"])
    with pytest.raises(SystemExit) as info:
        main()
        raise SystemExit(0)
    assert int(info.value.code or 0) == 0
    gt = json.loads((tmp_path / "synth_s0_000.json").read_text())
    assert gt["appearance"]["look"] == "varied" and len(gt["frames"]) == 4
    assert (tmp_path / "synth_s0_000_preview.png").stat().st_size > 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", [*args, "shiny"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error:")

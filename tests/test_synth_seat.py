"""Babies reclined in a bouncer or car seat (`tpt-live synth --seats`): the pose, the seat's geometry, the files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.skeleton import JOINT_INDEX
from tpt_live.synth import SynthConfig, render_clip, sample_scene
from tpt_live.synth.body import BodyParams, Ellipsoid, forward_kinematics
from tpt_live.synth.clip import posed_frames
from tpt_live.synth.look_geometry import look_segments
from tpt_live.synth.motion import sample_motion


def _inside(e: Ellipsoid, p: np.ndarray) -> np.ndarray:
    """Per frame: is point p (F, 3) inside ellipsoid e?"""
    local = np.einsum("fji,fj->fi", e.rot, p - e.c) / e.radii
    out: np.ndarray = (local**2).sum(axis=1) < 1.0
    return out


def test_seated_bodies_recline_the_trunk_raise_the_thighs_and_keep_other_draws() -> None:
    """`seated`: the trunk raised 25-55 degrees off the mat (between lying and sitting up), the knees above the hips
    and the feet below the knees (the shins hang from the seat's edge); it wins over `sitting`; other postures keep
    their draws."""
    body = BodyParams()
    pitch, knee_up, shin_down = [], [], []
    for seed in range(6):
        m = sample_motion(np.random.default_rng(seed), "supine", 90, 15.0, seated=True, sitting=True)
        assert m.seated and not m.sitting and m.flexion == 0.0
        pitch.append(np.degrees(m.angles["trunk_pitch"]))
        joints, _ = forward_kinematics(body, m.angles)
        for side in ("left", "right"):
            hip, knee, ankle = (joints[:, JOINT_INDEX[f"{side}_{j}"], 2] for j in ("hip", "knee", "ankle"))
            knee_up.append(knee - hip)  # body z: anterior, up from the mat for a baby on its back
            shin_down.append(knee - ankle)
    pitch_all = np.concatenate(pitch)
    assert pitch_all.min() >= 24.0 and pitch_all.max() <= 56.0 and 35.0 < np.median(pitch_all) < 45.0
    assert np.median(np.concatenate(knee_up)) > 0.02 and np.median(np.concatenate(shin_down)) > 0.02
    plain = sample_motion(np.random.default_rng(2), "side", 20, 15.0)
    asked = sample_motion(np.random.default_rng(2), "side", 20, 15.0, seated=True)
    assert not asked.seated and all(np.array_equal(plain.angles[k], asked.angles[k]) for k in plain.angles)


def test_the_seat_lies_behind_the_body_and_the_harness_in_front_of_it() -> None:
    """The seat's back touches the trunk's back from behind on every frame (the trunk's centre outside it, the point
    1 cm behind the trunk's back inside it); the harness's chest points lie outside the trunk, in front of it."""
    config = SynthConfig(96, 80, frames=5, seed=4, index=0, pose="supine", look="varied", seats=1.0)
    scene = sample_scene(config)
    assert scene.motion.seated and scene.look is not None and scene.look.seat is not None
    kp3d, segs = posed_frames(scene)
    out = look_segments(scene.look, scene.camera, kp3d, segs, config.fps)
    trunk = next(s for s in out if s.name == "trunk")
    seat = next(s for s in out if s.name == "seat")
    assert isinstance(trunk, Ellipsoid) and isinstance(seat, Ellipsoid)
    front = trunk.rot[:, :, 2]
    behind = trunk.c - front * (trunk.radii[2] + 0.01)
    assert not _inside(seat, trunk.c).any() and _inside(seat, behind).all()
    straps = [s for s in out if s.name == "seat:strap"]
    assert len(straps) == 4
    for strap in straps:
        for p in (strap.a, strap.b):  # type: ignore[union-attr]
            assert not _inside(trunk, p).any()
    kinds = {sample_scene(SynthConfig(64, 64, seed=4, index=i, pose="supine", look="varied", seats=1.0)).look.seat.kind
             for i in range(8)}  # type: ignore[union-attr]  # fmt: skip
    assert kinds == {"bouncer", "car_seat"}


def test_seats_need_a_look_that_draws_them_and_leave_files_as_before_without_the_option() -> None:
    """The plain look draws no seat, so `seats` leaves its scenes lying; without the option the files carry no
    `seated` or `seat` key; a seated clip says so and writes the trunk's pitch; the share is checked."""
    plain = sample_scene(SynthConfig(64, 64, seed=4, index=0, pose="supine", look="plain", seats=1.0))
    assert not plain.motion.seated and plain.look is None
    base = SynthConfig(48, 40, frames=2, seed=4, index=0, pose="supine", look="varied")
    before, seated = render_clip(base).gt, render_clip(replace(base, seats=1.0)).gt
    assert "seated" not in before and "seat" not in before["appearance"] and "trunk_pitch" not in before["angles"][0]
    assert seated["seated"] and seated["appearance"]["seat"]["kind"] in ("bouncer", "car_seat")
    assert 25.0 <= seated["angles"][0]["trunk_pitch"] <= 55.0
    assert seated["appearance"]["cover"] == "none" and seated["appearance"]["clothing"] != "sleep_sack"
    with pytest.raises(InputError, match="seats"):
        SynthConfig(seats=1.5)

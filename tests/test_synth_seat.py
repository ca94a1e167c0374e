"""Babies reclined in a bouncer or car seat (`tpt-live synth --seats`): the pose, the seat's geometry, the files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.skeleton import JOINT_INDEX
from tpt_live.synth import SynthConfig, render_clip, sample_scene
from tpt_live.synth.body import BodyParams, Ellipsoid, forward_kinematics
from tpt_live.synth.clip import SEAT_RAISE, posed_frames
from tpt_live.synth.look import sample_look, with_seat
from tpt_live.synth.look_geometry import look_segments
from tpt_live.synth.motion import sample_motion
from tpt_live.synth.scenarios import render_scenario


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
        m = sample_motion(np.random.default_rng(seed), "supine", 90, 15.0, flexion=1.0, seated=True, sitting=True)
        assert m.seated and not m.sitting and m.flexion == 0.0
        pitch.append(np.degrees(m.angles["trunk_pitch"]))
        joints, _ = forward_kinematics(body, m.angles)
        for side in ("left", "right"):
            hip, knee, ankle = (joints[:, JOINT_INDEX[f"{side}_{j}"], 2] for j in ("hip", "knee", "ankle"))
            knee_up.append(knee - hip)  # body z: anterior, up from the mat for a baby on its back
            shin_down.append(knee - ankle)
    pitch_all = np.concatenate(pitch)
    assert pitch_all.min() >= 24.0 and pitch_all.max() <= 56.0 and 32.0 < np.median(pitch_all) < 48.0
    assert max(float(np.ptp(p)) for p in pitch) < 15.0  # each clip rocks about its own recline
    assert np.median(np.concatenate(knee_up)) > 0.02 and np.median(np.concatenate(shin_down)) > 0.02
    plain = sample_motion(np.random.default_rng(2), "side", 20, 15.0)
    asked = sample_motion(np.random.default_rng(2), "side", 20, 15.0, seated=True)
    assert not asked.seated and all(np.array_equal(plain.angles[k], asked.angles[k]) for k in plain.angles)


def test_the_seat_lies_behind_the_body_and_the_harness_in_front_of_it() -> None:
    """The seat's back touches the trunk's back from behind on every frame (the trunk's centre outside it, the point
    1 cm behind the trunk's back inside it) and keeps its place along the trunk; the head rests on it; the harness
    lies outside the trunk, in front of it; the baby is raised off the mat by the seat."""
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
    head = next(s for s in out if s.name == "head")
    assert isinstance(head, Ellipsoid)
    surface = ((seat.c - trunk.c) * front).sum(axis=1) + seat.radii[2]  # the seat's front at its thickest
    gap = ((head.c - trunk.c) * front).sum(axis=1) - head.radii[2] - surface
    assert -0.03 < gap.min() and gap.max() < 0.025  # the back of the head on the seat: sunk in, or a nod off it
    straps = [s for s in out if s.name == "seat:strap"]
    assert len(straps) == 4
    for strap in straps:
        for p in (strap.a, strap.b):  # type: ignore[union-attr]
            assert not _inside(trunk, p).any() and (((p - trunk.c) * front).sum(axis=1) > 0).all()
    lying = sample_scene(replace(config, seats=0.0))
    assert scene.lift == pytest.approx(lying.lift + SEAT_RAISE)
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
    look = replace(sample_look(np.random.default_rng(1)), clothing="sleep_sack", cover="body")
    in_seat = with_seat(look, np.random.default_rng(2))
    assert (in_seat.clothing, in_seat.cover, in_seat.seat is not None) == ("onesie", "none", True)
    assert with_seat(replace(look, clothing="diaper"), np.random.default_rng(2)).clothing == "diaper"
    varied, random = (sample_scene(replace(base, look=k, seats=1.0)).look for k in ("varied", "random"))
    assert varied is not None and random is not None and varied.seat is not None and random.seat is not None
    assert varied.seat.kind == random.seat.kind and not np.allclose(varied.seat.frame, random.seat.frame)
    with pytest.raises(InputError, match="seats"):
        SynthConfig(seats=1.5)
    with pytest.raises(InputError, match="--seats"):
        render_scenario(replace(base, seats=0.5), "roll")

"""The `room` synth world: cameras from overhead to nearly level, upright to gravity when oblique, a wall."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.synth import SynthConfig, render_clip
from tpt_live.synth.backdrop import wall_hits
from tpt_live.synth.camera import CameraParams, build_camera
from tpt_live.synth.clip import sample_scene
from trainer.localiser_train import LocaliserTrainConfig
from trainer.part_pretrain import PretrainConfig


def _level_camera(**kw: object) -> object:
    params = CameraParams(fov_deg=50.0, frame_fraction=0.5, tilt_deg=80.0, azimuth_deg=0.0, gravity_up=True, **kw)
    return build_camera(64, 48, params, 0.6, np.zeros(3))


def test_gravity_up_puts_world_up_at_the_top_of_the_picture() -> None:
    cam = _level_camera()
    low, high = cam.project(cam.to_camera(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.3]])))
    assert high[1] < low[1] - 5  # higher in the world is higher in the picture
    assert abs(high[0] - low[0]) < 0.5  # and straight above it (no roll)


def test_wall_meets_the_level_rays_at_its_distance() -> None:
    cam = _level_camera(wall=(1.0, 7))
    hit, z, u, v = wall_hits(cam, 1.0)
    assert hit[0].all() and not hit[-1].any()  # the top row looks at the wall, the bottom row at the mat
    rows = np.nonzero(hit.all(axis=1))[0]
    assert (np.diff(rows) == 1).all()  # one band from the top
    assert (v[hit] > -1e-6).all()  # the wall stands on the mat
    # each wall pixel's point (on the plane x = -1 for azimuth 0, y = -u, z = v) projects back onto that pixel
    rows, cols = np.nonzero(hit)
    points = np.stack([np.full(len(rows), -1.0), -u[hit], v[hit]], axis=1)
    pix = cam.project(cam.to_camera(points))
    assert np.abs(pix - np.stack([cols, rows], axis=1)).max() < 1e-3
    assert np.isinf(z[~hit]).all() and (z[hit] > 0).all()


def test_room_world_keeps_the_wide_draws_and_adds_views_and_walls() -> None:
    tilts, walls = [], 0
    for i in range(24):
        wide = sample_scene(SynthConfig(96, 96, frames=1, seed=3, index=i, world="wide")).camera.params
        room = sample_scene(SynthConfig(96, 96, frames=1, seed=3, index=i, world="room")).camera.params
        assert room.frame_fraction == wide.frame_fraction and room.offset == wide.offset
        assert room.fov_deg == wide.fov_deg and room.azimuth_deg == wide.azimuth_deg
        if not room.gravity_up:
            assert replace(room, wall=None) == wide  # an overhead camera keeps its wide-world draw
        tilts.append(room.tilt_deg)
        walls += room.wall is not None
    assert walls == 24 and max(tilts) > 55 and min(tilts) < 30


def test_room_clip_shows_the_wall_in_both_looks() -> None:
    for look in ("plain", "varied"):
        index = next(
            i
            for i in range(40)
            if sample_scene(SynthConfig(96, 72, frames=1, seed=5, index=i, world="room")).camera.params.tilt_deg > 65
        )
        cfg = SynthConfig(96, 72, frames=1, seed=5, index=index, world="room", look=look)
        clip = render_clip(cfg)
        assert clip.gt["camera"]["gravity_up"] is True and clip.gt["camera"]["wall_m"] > 0.5
        hit, *_ = wall_hits(sample_scene(cfg).camera, clip.gt["camera"]["wall_m"])
        assert hit.mean() > 0.05
        frame = clip.frames[0].astype(np.float64)
        assert frame[hit].std() > 1.0  # drawn, not left black
    assert "wall_m" not in render_clip(SynthConfig(64, 64, frames=1, seed=5, world="wide")).gt["camera"]


def test_training_configs_take_the_room_world_and_refuse_others() -> None:
    assert PretrainConfig(world="room").world == "room"
    assert LocaliserTrainConfig(world="room").world == "room"
    with pytest.raises(InputError, match="--world"):
        PretrainConfig(world="default")
    with pytest.raises(InputError, match="--world"):
        LocaliserTrainConfig(world="moon")

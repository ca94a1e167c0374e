"""Monitoring scenarios: synthetic clips in which the infant is absent, leaves and returns, lies still or rolls.

Each scenario starts from the ordinary video of (`seed`, `index`) (`sample_scene`: same body, appearance,
camera and motion draws) and changes only its timeline, so the plain generator's output is untouched:

- `active`: the ordinary motion, with the monitoring labels added;
- `absent`: the same mat and camera with the infant slid out of the frame in every frame;
- `leave_return`: present for the first 30% of the clip, slides out sideways within 1 s, absent until 60%,
  slides back within 1 s;
- `still`: motion time stops from 20% to 80% of the clip (pose, rotation and drift frozen: no movement at
  all), then goes on where it stopped;
- `roll`: from 30% of the clip the body rolls within 2 s from its drawn posture to the side (+-90 deg) or
  onto the front (180 deg).

Per-frame labels added to every `frames[i]` of the ground truth: `present` (at least half of the joints
project inside the image), `moving` (some joint moves faster than `MOVING_M_PER_S` in 3D, central
difference), `posture` ("supine", "side", "prone" from the roll angle, None when absent). Pixel and camera
conventions are those of `tpt_live.synth.clip` (x = col, y = row, pixel centres at integers).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from tpt_live.errors import InputError
from tpt_live.synth.body import forward_kinematics, rot_y, rot_z, transform_segment
from tpt_live.synth.clip import Clip, Scene, SynthConfig, _r4, _rng, ground_truth, render_frames, sample_scene
from tpt_live.synth.motion import Motion

MONITOR_SCENARIOS: tuple[str, ...] = ("active", "absent", "leave_return", "still", "roll")
MOVING_M_PER_S = 0.03  # joint speed (3D, metres per second) above which a frame counts as moving
_OUT = 1.4  # drift offset (fractions of the image width) that puts the whole infant outside the frame


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    out: np.ndarray = x * x * (3.0 - 2.0 * x)
    return out


def _retime(motion: Motion, idx: np.ndarray, still: np.ndarray) -> Motion:
    """The motion read at frame indices `idx` (F,); activity 0 where `still`."""
    activity = np.where(still, 0.0, motion.activity[idx])
    angles = {k: v[idx] for k, v in motion.angles.items()}
    return replace(motion, angles=angles, yaw=motion.yaw[idx], drift=motion.drift[idx], activity=activity)


def _timeline(scenario: str, motion: Motion, fps: float, rng: np.random.Generator) -> tuple[Motion, np.ndarray]:
    """(motion with the scenario's changes, roll per frame (F,) radians)."""
    n = len(motion.yaw)
    t = np.arange(n) / fps
    duration = n / fps
    roll = np.full(n, motion.roll)
    if scenario == "still":
        a, b = int(0.2 * n), int(0.8 * n)
        idx = np.arange(n)
        idx[a:b] = a
        idx[b:] -= b - a
        still = (np.arange(n) >= a) & (np.arange(n) < b)
        return _retime(motion, idx, still), roll
    if scenario in ("absent", "leave_return"):
        side = float(rng.choice([-1.0, 1.0]))
        if scenario == "absent":
            away = np.ones(n)
        else:
            away = _smoothstep(t - 0.3 * duration) * (1.0 - _smoothstep(t - 0.6 * duration))
        drift = motion.drift.copy()
        drift[:, 0] += side * _OUT * away
        return replace(motion, drift=drift), roll
    if scenario == "roll":
        target = float(rng.choice([np.pi / 2, -np.pi / 2, np.pi])) if motion.roll == 0.0 else 0.0
        ramp = _smoothstep((t - 0.3 * duration) / 2.0)
        return motion, motion.roll + (target - motion.roll) * ramp
    return motion, roll


def posture_of_roll(roll: np.ndarray) -> list[str]:
    """'supine' (|roll| < 45 deg), 'prone' (> 135 deg) or 'side', per frame; roll in radians."""
    a = np.abs(np.degrees(np.angle(np.exp(1j * np.asarray(roll)))))
    return ["supine" if x < 45 else "prone" if x > 135 else "side" for x in a]


def _posed(scene: Scene, roll: np.ndarray) -> tuple[np.ndarray, list]:
    """Joints (F, J, 3) and segments in camera coordinates with a per-frame roll (F,) radians.

    Same placement as `clip.body_to_camera`, with the lift above the mat following the roll.
    """
    m, cam, body = scene.motion, scene.camera, scene.body
    lateral, depth = body.trunk_radii[0], body.trunk_radii[2]
    lift = np.abs(np.cos(roll)) * depth + np.abs(np.sin(roll)) * lateral
    place = rot_z(m.yaw) @ rot_y(roll)
    wpp = cam.world_per_pixel()
    offset = np.stack([m.drift[:, 0] * cam.width * wpp, -m.drift[:, 1] * cam.height * wpp, lift], axis=1)
    world_t = offset - place[:, :, 1] * scene.centre_y
    rot, trans = cam.R @ place, world_t @ cam.R.T + cam.t
    joints, segs = forward_kinematics(body, m.angles)
    kp3d = np.einsum("fij,fkj->fki", rot, joints) + trans[:, None, :]
    return kp3d, [transform_segment(s, rot, trans) for s in segs]


def frame_labels(kp2d: np.ndarray, kp3d: np.ndarray, roll: np.ndarray, width: int, height: int, fps: float) -> dict:
    """Per-frame `present` (F,), `moving` (F,) and `posture` (F,) from the ground truth.

    kp2d: (F, J, 2) pixels (x = col, y = row, centres at integers); kp3d: (F, J, 3) metres; roll (F,) rad.
    """
    inside = (kp2d[..., 0] >= -0.5) & (kp2d[..., 0] <= width - 0.5) & (kp2d[..., 1] >= -0.5)
    inside &= kp2d[..., 1] <= height - 0.5
    present = inside.mean(axis=1) >= 0.5
    speed = np.zeros(len(kp3d))
    if len(kp3d) > 1:
        step = np.linalg.norm(np.gradient(kp3d, axis=0), axis=-1).max(axis=1) * fps
        speed = step
    moving = present & (speed > MOVING_M_PER_S)
    posture = [p if ok else None for p, ok in zip(posture_of_roll(roll), present, strict=True)]
    return {"present": present, "moving": moving, "posture": posture}


def render_scenario(config: SynthConfig, scenario: str, background: np.ndarray | None = None) -> Clip:
    """Render video (`config.seed`, `config.index`) under a monitoring scenario (see the module docstring).

    background: (H, W, 3) float32 RGB in [0, 1] drawn instead of the scene's mat (None: the mat).
    """
    if scenario not in MONITOR_SCENARIOS:
        raise InputError(f"bad scenario '{scenario}': use one of {', '.join(MONITOR_SCENARIOS)}")
    if config.seats > 0:  # a roll would turn the seat with the baby, a leave would carry it away
        raise InputError("monitoring scenarios draw babies lying down: drop --seats with --scenario")
    start = time.perf_counter()
    base = sample_scene(config)
    motion, roll = _timeline(scenario, base.motion, config.fps, _rng(config, 6))
    scene = replace(base, motion=motion)
    if background is not None and background.shape != (config.height, config.width, 3):
        raise InputError(f"background {background.shape} does not match the {config.width}x{config.height} frames")
    kp3d, segs = _posed(scene, roll)
    kp2d = scene.camera.project(kp3d)
    images, visible = render_frames(scene, config, kp2d, kp3d, segs, background)
    labels = frame_labels(kp2d, kp3d, roll, config.width, config.height, config.fps)
    frames = [
        {
            "idx": i,
            "kp2d": _r4(kp2d[i]),
            "kp3d": _r4(kp3d[i]),
            "visible": (visible[i] & labels["present"][i]).tolist(),
            "present": bool(labels["present"][i]),
            "moving": bool(labels["moving"][i]),
            "posture": labels["posture"][i],
        }
        for i in range(config.frames)
    ]
    name = f"{config.name}_{scenario}"
    placement = {"roll_deg": _r4(np.degrees(roll)), "centre_y_m": round(scene.centre_y, 4)}
    gt = {"scenario": scenario, **ground_truth(config, scene, name, placement, frames)}
    return Clip(name, images, gt, time.perf_counter() - start)

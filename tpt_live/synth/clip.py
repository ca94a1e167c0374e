"""One synthetic video: configuration, scene sampling, rendering, ground truth, files on disk.

Ground-truth conventions (also in docs/SYNTH.md): `kp2d` (J, 2) pixels, x = col, y = row, pixel
centres at integer coordinates; `kp3d` (J, 3) metres in camera coordinates (x right, y down,
z forward) with `kp2d = (K @ kp3d.T).T[:, :2] / z`; joints in `tpt_live.skeleton.JOINT_NAMES` order,
anatomical left/right.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tpt_live.errors import InputError
from tpt_live.skeleton import BONES, JOINT_NAMES
from tpt_live.synth.appearance import Appearance, mat_texture, sample_appearance
from tpt_live.synth.body import (
    BodyParams,
    Pose,
    Segment,
    body_extent,
    forward_kinematics,
    pose_arrays,
    pose_to_dict,
    rot_y,
    rot_z,
    transform_segment,
)
from tpt_live.synth.body import sample_body as _sample_body
from tpt_live.synth.camera import (
    WORLDS,
    Camera,
    CameraParams,
    build_camera,
    sample_camera_params,
    sample_room_params,
    sample_wide_params,
)
from tpt_live.synth.look import LOOKS, Look, randomise_textures, sample_look, with_seat
from tpt_live.synth.motion import HAND_POSES, SCENARIOS, Motion, sample_motion
from tpt_live.synth.render import Renderer

log = logging.getLogger(__name__)
GT_FORMAT = "tpt-live-synth"
GT_VERSION = 1


@dataclass(frozen=True)
class SynthConfig:
    """What to render for one video; validated on construction (raises `InputError`)."""

    width: int = 128  # image width in pixels (even: H.264 yuv420p)
    height: int = 128  # image height in pixels (even)
    frames: int = 30  # number of frames
    fps: float = 30.0  # frame rate of the motion and of the written video
    seed: int = 0  # dataset seed; with `index` it seeds every random choice of the video
    index: int = 0  # video index within the dataset: video i is the same whatever the video count
    pose: str = "supine"  # "supine", "side", "prone" or "mixed" (drawn per video)
    world: str = "default"  # "default" (centred, head up, 65-80% of the height), "wide" or "room" (docs/SYNTH.md)
    look: str = "plain"  # "plain" (flat colours, the original renders), "varied" or "random" (docs/SYNTH.md)
    flexion: float = 0.0  # share of videos in a young infant's flexed resting posture, by a per-video U(0, 1) amount
    hands: float = 0.0  # share of arms (each drawn on its own) held with the hand at the face or chest (`HAND_POSES`)
    side_gravity: bool = False  # a baby on its side rests its upper limbs on its body, the lower ones on the mat
    propped: float = 0.0  # share of babies on their tummy propped on forearms or hands, the chest lifted (tummy time)
    sitting: float = 0.0  # share of babies on their back drawn sitting up instead (older infants)
    seats: float = 0.0  # share of babies on their back drawn reclined in a bouncer or car seat (varied/random looks)

    def __post_init__(self) -> None:
        for name, value, low in (("width", self.width, 16), ("height", self.height, 16)):
            if value < low or value % 2:
                raise InputError(f"bad image {name} {value}: use an even number >= {low}, e.g. 128x128")
        if self.frames < 1:
            raise InputError(f"bad frame count {self.frames}: use --frames 1 or more")
        if not (math.isfinite(self.fps) and 0 < self.fps <= 240):
            raise InputError(f"bad fps {self.fps}: use a frame rate in (0, 240], e.g. --fps 30")
        if self.seed < 0 or self.index < 0:
            raise InputError(f"bad seed/index {self.seed}/{self.index}: use non-negative integers")
        if self.pose not in SCENARIOS:
            raise InputError(f"bad pose '{self.pose}': use one of {', '.join(SCENARIOS)}")
        if self.world not in WORLDS:
            raise InputError(f"bad world '{self.world}': use one of {', '.join(WORLDS)}")
        if self.look not in LOOKS:
            raise InputError(f"bad look '{self.look}': use one of {', '.join(LOOKS)}")
        for name, share in (("flexion", self.flexion), ("hands", self.hands), ("propped", self.propped),
                            ("sitting", self.sitting), ("seats", self.seats)):  # fmt: skip
            if not 0.0 <= share <= 1.0:
                raise InputError(f"bad {name} {share}: use a share in [0, 1]")

    @property
    def name(self) -> str:
        """File stem of this video, e.g. `synth_s7_003`."""
        return f"synth_s{self.seed}_{self.index:03d}"


@dataclass(frozen=True)
class Scene:
    """Everything sampled for one video (static parts and per-frame motion)."""

    body: BodyParams  # sizes
    appearance: Appearance  # colours, textures, light, sensor
    camera: Camera  # intrinsics and extrinsics
    motion: Motion  # per-frame joint angles and placement on the mat
    centre_y: float  # body-frame y of the body's midpoint (head top to feet), placed at the origin
    lift: float  # height of the body axis above the mat, metres
    look: Look | None = None  # the "varied" look (None: the plain look of `appearance`)


@dataclass(frozen=True)
class Clip:
    """A rendered video and its ground truth."""

    name: str  # file stem
    frames: np.ndarray  # (F, H, W, 3) uint8 RGB
    gt: dict[str, Any]  # ground-truth JSON content (see docs/SYNTH.md)
    render_seconds: float  # wall time spent rendering the frames


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (width, height); raises `InputError` on anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise InputError(f"bad size '{text}': use WIDTHxHEIGHT, e.g. --size 128x128")
    width, height = int(m.group(1)), int(m.group(2))
    if min(width, height) < 16:
        raise InputError(f"size '{text}' is too small: at least 16x16 pixels")
    return width, height


def _rng(config: SynthConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, config.index, stream])


SEAT_RAISE = 0.12  # metres: a seated baby's pelvis above the mat (the seat's lower end rests on the floor)


def _lift(body: BodyParams, roll: float) -> float:
    lateral, depth = body.trunk_radii[0], body.trunk_radii[2]
    return float(abs(np.cos(roll)) * depth + abs(np.sin(roll)) * lateral)


def _held_hands(config: SynthConfig) -> tuple[int, int]:
    """Per arm (left, right): the `HAND_POSES` layout it is held in, -1 free; each arm held with probability
    `config.hands`, from a stream of its own (without it the draws stay as they were)."""
    if config.hands <= 0:
        return (-1, -1)
    rng = _rng(config, 15)
    picks = rng.integers(0, len(HAND_POSES), 2)
    held = rng.random(2) < config.hands
    return (int(picks[0]) if held[0] else -1, int(picks[1]) if held[1] else -1)


def _angles(motion: Motion, frame: int) -> dict[str, float]:
    """One frame's joint angles for the JSON: the trunk's pitch only where tummy time, sitting or a seat draws it
    (files as before)."""
    angles = pose_to_dict(motion.pose(frame))
    if not (motion.propped or motion.sitting or motion.seated):
        del angles["trunk_pitch"]
    return angles


def sample_scene(config: SynthConfig) -> Scene:
    """Draw body, appearance, camera and motion of video (`config.seed`, `config.index`)."""
    body = _sample_body(_rng(config, 0))
    appearance = sample_appearance(_rng(config, 1))
    flex = _rng(config, 13) if config.flexion > 0 else None  # its own stream: without it the draws stay as they were
    amount = float(flex.uniform(0.0, 1.0)) if flex is not None and flex.random() < config.flexion else 0.0
    propped = config.propped > 0 and _rng(config, 16).random() < config.propped  # its own stream, as flexion's
    sitting = config.sitting > 0 and _rng(config, 17).random() < config.sitting  # and the same
    seated = config.seats > 0 and config.look != "plain" and _rng(config, 18).random() < config.seats  # the same
    motion = sample_motion(_rng(config, 3), config.pose, config.frames, config.fps, amount, _held_hands(config),
                          config.side_gravity, propped, sitting, seated)  # fmt: skip
    cam = sample_camera_params(_rng(config, 2))
    if config.world in ("wide", "room"):  # its own stream: the default world's draws stay as they were
        cam = sample_wide_params(_rng(config, 9), cam)
    if config.world == "room":  # and its own on top: the wide world's draws stay as they were
        cam = sample_room_params(_rng(config, 12), cam)
    scene = _scene(config.width, config.height, body, appearance, cam, motion)
    if config.look in ("varied", "random"):  # its own stream too: the plain look's draws stay as they were
        look = sample_look(_rng(config, 10))
        if motion.seated:  # its own stream: the look's other draws stay as they were
            look = with_seat(look, _rng(config, 19))
        if config.look == "random":  # and its own on top: the varied look's draws stay as they were
            look = randomise_textures(look, _rng(config, 14))
        scene = replace(scene, look=look)
    return scene


def restage(scene: Scene, params: CameraParams) -> Scene:
    """The same body, look and motion filmed with other camera parameters (e.g. a chosen turn and size)."""
    out = _scene(scene.camera.width, scene.camera.height, scene.body, scene.appearance, params, scene.motion)
    return replace(out, look=scene.look)


def _scene(width: int, height: int, body: BodyParams, app: Appearance, cam: CameraParams, motion: Motion) -> Scene:
    top, bottom = body_extent(body)
    lift = _lift(body, motion.roll) + (SEAT_RAISE if motion.seated else 0.0)
    camera = build_camera(width, height, cam, top - bottom, np.array([0.0, 0.0, lift]))
    return Scene(body, app, camera, motion, 0.5 * (top + bottom), lift)


def body_to_camera(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """(rot (F, 3, 3), trans (F, 3)) mapping body-frame points of each frame to camera coordinates.

    World placement: p_world = Rz(yaw) @ Ry(roll) @ (p - (0, centre_y, 0)) + (drift_x, drift_y, lift).
    """
    m, cam = scene.motion, scene.camera
    place = rot_z(m.yaw) @ rot_y(np.full(len(m.yaw), m.roll))
    wpp = cam.world_per_pixel()
    offset = np.stack(
        [m.drift[:, 0] * cam.width * wpp, -m.drift[:, 1] * cam.height * wpp, np.full(len(m.yaw), scene.lift)],
        axis=1,
    )
    world_t = offset - place[:, :, 1] * scene.centre_y
    return cam.R @ place, world_t @ cam.R.T + cam.t


def posed_frames(scene: Scene, angles: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, list[Segment]]:
    """Joints (F, J, 3) and segments of every frame in camera coordinates, metres.

    `angles` (one (F,) array per `Pose` field, radians) replaces the scene's motion when given (same F).
    """
    joints, segs = forward_kinematics(scene.body, scene.motion.angles if angles is None else angles)
    rot, trans = body_to_camera(scene)
    kp3d = np.einsum("fij,fkj->fki", rot, joints) + trans[:, None, :]
    return kp3d, [transform_segment(s, rot, trans) for s in segs]


def _r4(a: np.ndarray) -> list[Any]:
    out: list[Any] = np.round(a.astype(np.float64), 4).tolist()
    return out


def ground_truth(config: SynthConfig, scene: Scene, name: str, placement: dict, frames: list[dict]) -> dict:
    """The ground-truth JSON of a rendered clip (format documented in docs/SYNTH.md)."""
    return {
        "format": GT_FORMAT,
        "version": GT_VERSION,
        "name": name,
        "joints": list(JOINT_NAMES),
        "bones": [list(b) for b in BONES],
        "width": config.width,
        "height": config.height,
        "fps": config.fps,
        "seed": config.seed,
        "index": config.index,
        "pose": scene.motion.scenario,
        **({"flexion": round(scene.motion.flexion, 4)} if config.flexion > 0 else {}),  # absent: files as before
        **({"hands": list(scene.motion.hands)} if config.hands > 0 else {}),  # the same
        **({"side_gravity": True} if config.side_gravity else {}),  # the same
        **({"propped": scene.motion.propped} if config.propped > 0 else {}),  # the same
        **({"sitting": scene.motion.sitting} if config.sitting > 0 else {}),  # the same
        **({"seated": scene.motion.seated} if config.seats > 0 else {}),  # the same
        "world": config.world,
        "num_frames": config.frames,
        "camera": scene.camera.to_dict(),
        "body": scene.body.to_dict(),
        "appearance": scene.appearance.to_dict() if scene.look is None else scene.look.to_dict(),
        "placement": placement,
        "frames": frames,
        "angles": [_angles(scene.motion, i) for i in range(config.frames)],
        "activity": _r4(scene.motion.activity),
    }


def render_frames(
    scene: Scene,
    config: SynthConfig,
    kp2d: np.ndarray,
    kp3d: np.ndarray,
    segs: list[Segment],
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (F, H, W, 3) uint8 RGB and visibility (F, J) bool of posed segments in the scene's look.

    kp2d (F, J, 2) pixels, kp3d (F, J, 3) camera coordinates; `background` (H, W, 3) float32 in [0, 1]
    replaces the drawn mat when given.
    """
    if scene.look is not None:
        from tpt_live.synth.look_render import render_look

        return render_look(
            scene.look, scene.appearance, scene.camera, kp2d, kp3d, segs, config.fps, _rng(config, 11), background
        )
    if background is None:
        background = mat_texture(scene.appearance, scene.camera, _rng(config, 4))
    renderer = Renderer(scene.camera, scene.appearance, background)
    return renderer.render_frames(segs, kp2d, kp3d, _rng(config, 5))


def render_scene(scene: Scene, config: SynthConfig, background: np.ndarray | None = None) -> Clip:
    """Render every frame of `scene` and build the ground truth; `background` as in `render_frames`."""
    start = time.perf_counter()
    if background is not None and background.shape != (config.height, config.width, 3):
        raise InputError(f"background {background.shape} does not match the {config.width}x{config.height} frames")
    kp3d, segs = posed_frames(scene)
    kp2d = scene.camera.project(kp3d)
    images, visible = render_frames(scene, config, kp2d, kp3d, segs, background)
    gt_frames = [
        {"idx": i, "kp2d": _r4(kp2d[i]), "kp3d": _r4(kp3d[i]), "visible": visible[i].tolist()}
        for i in range(config.frames)
    ]
    seconds = time.perf_counter() - start
    placement = {
        "roll_deg": round(float(np.degrees(scene.motion.roll)), 3),
        "lift_m": round(scene.lift, 4),
        "centre_y_m": round(scene.centre_y, 4),
    }
    gt = ground_truth(config, scene, config.name, placement, gt_frames)
    log.debug("rendered %s: %d frames in %.2f s", config.name, config.frames, seconds)
    return Clip(config.name, images, gt, seconds)


def render_clip(config: SynthConfig, background: np.ndarray | None = None) -> Clip:
    """Render video (`config.seed`, `config.index`) in memory: frames (F, H, W, 3) uint8 RGB + gt.

    background: (H, W, 3) float32 RGB in [0, 1] drawn instead of the scene's mat, floor or wall (None: the
    scene's own); the scene itself (body, motion, camera, clothes) is the same either way.
    """
    return render_scene(sample_scene(config), config, background)


def iter_clips(config: SynthConfig, videos: int) -> Iterator[Clip]:
    """Render videos 0 .. videos-1 of `config.seed` one at a time."""
    if videos < 1:
        raise InputError(f"bad video count {videos}: use --videos 1 or more")
    for i in range(videos):
        yield render_clip(replace(config, index=i))


def write_clip(clip: Clip, out_dir: Path, name: str | None = None, preview: bool = False) -> list[Path]:
    """Write `<name>.mp4` (H.264 yuv420p), `<name>.json` and optionally `<name>_preview.png`, creating `out_dir`
    (OSError where it cannot be; `tpt-live synth` checks the folder first, `cli.common.output_folder`)."""
    from tpt_live.synth.preview import write_preview
    from tpt_live.videoio import write_video

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = name or clip.name
    video = out_dir / f"{stem}.mp4"
    height, width = clip.frames.shape[1:3]
    write_video(video, iter(clip.frames), clip.gt["fps"], (width, height))
    meta = out_dir / f"{stem}.json"
    meta.write_text(json.dumps(clip.gt, indent=1) + "\n")
    paths = [video, meta]
    if preview:
        paths.append(write_preview(clip, out_dir / f"{stem}_preview.png"))
    return paths


def canonical_scene(width: int, height: int) -> Scene:
    """One-frame scene: mean body, neutral pose, supine, default camera (`CameraParams()`, overhead).

    The body midpoint (head top to feet) is at the image centre, no rotation or drift on the mat.
    """
    motion = Motion("supine", 0.0, pose_arrays([Pose()]), np.zeros(1), np.zeros((1, 2)), np.ones(1))
    app = sample_appearance(np.random.default_rng(0))  # any appearance: only the geometry matters here
    return _scene(width, height, BodyParams(), app, CameraParams(), motion)


def canonical_skeleton_2d(size: int = 256) -> np.ndarray:
    """(16, 2) float64 pixels: the mean body in the neutral pose, supine, camera straight overhead.

    Default framing (`CameraParams()`: FOV 50 deg, body 72.5% of the height, body midpoint at the
    image centre, no rotation or drift) in a `size` x `size` image; x = col, y = row, pixel centres
    at integer coordinates; joints in `JOINT_NAMES` order (left joints on the image right).
    """
    if size < 2:
        raise InputError(f"bad template size {size}: use 2 or more pixels")
    scene = canonical_scene(size, size)
    kp3d, _ = posed_frames(scene)
    out: np.ndarray = scene.camera.project(kp3d[0])
    return out

"""Lying posture (supine, side, prone) from 3D torso orientation, or from 2D cues when there is no 3D.

Convention: 2D keypoints are image pixels (x = col, y = row, y down); 3D keypoints are camera axes (x right,
y down, z forward, away from the camera), as `tpt_live.lifter` and `tpt_live.synth` give them. Joint
order is `tpt_live.skeleton.JOINT_NAMES`; left/right are the subject's.

The torso's anterior direction is `cross(left - right, up)` with `up` = pelvis -> thorax and `left - right`
across the shoulders and the hips (the body frame's x cross y = z). 3D: the angle between that direction
and the mat's upward normal is < 45 deg supine, > 135 deg prone, otherwise side. The mat's normal is the
direction to the camera (-z) for a camera looking straight down; a camera pitched by `tilt` degrees (its
picture's top farther away, as a camera on a crib rail or a hand-held phone sees a mat) sees it as
`(0, -sin tilt, -cos tilt)`. `MatTilt` estimates the tilt from the torsos it has seen (see there). 2D: the same
cross product in the image plane, divided by the squared trunk length, is about -0.6 for a supine infant
seen from above (its left on the image right), +0.6 prone, and near 0 on the side (shoulders stacked);
`|s| < SIDE_2D` counts as side. The 2D cue relies on the tracker telling left from right.

With both cues, a torso whose 2D handedness clearly shows its back to the camera (s >= BACK_2D) is prone
whatever the 3D cue says: the sign of s is the sign of the 3D anterior's component along the optical axis,
which depends on the 2D keypoints alone, and a camera anywhere above the mat sees a prone baby's back. The
lifter cannot say it (its prior keeps torsos facing the camera); a 2D model that learnt anatomical left and
right from prone renders can. The handedness may come from a second 2D model run on the same crop (the
monitor's handedness model, docs/MONITOR.md) while the keypoints and the 3D come from the tracker's model. A
torso that shows its front or its side keeps the 3D reading, which knows the camera's tilt.

Every cue needs a lying torso seen along its length. A trunk pointing at the camera (a baby sitting up under an
overhead camera, or lying head or feet towards a low one) is foreshortened in the picture: the signed width,
divided by the squared trunk length, then takes any size and sign, and the lifter's 3D torso is a guess. So each
margin is scaled by `lengthwise`: 0 where the 2D trunk is shorter than END_ON[0] times the torso's mean width
(shoulders and hips), 1 from END_ON[1], linear between. A lying torso seen from above measures about 1.5-1.8; a
camera pitched by `tilt` shortens a trunk lying along its line of sight by cos(tilt), so the ratio is divided by
that first (at 60 degrees a sitting trunk shows sin 60 of its length and is no longer told from a lying one).

The monitor never reports a single frame's cue: it reads the 3D facing angle of the torso direction averaged
over the last seconds (`TorsoMean`), and `PostureVote` weighs each frame by its distance from the class boundary
over a window and says `unknown` when the winning posture's confidence is low.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from tpt_live.errors import InputError
from tpt_live.skeleton import BACK_2D, JOINT_INDEX, signed_width_2d  # the 2D handedness (skeleton.py)

POSTURES = ("supine", "side", "prone")
SITTING = "sitting"  # the image classifier's fourth class: sitting up, none of the lying postures
IMAGE_CLASSES = (*POSTURES, SITTING)  # the image classifier's outputs (`tpt_live.monitor.posture_image`)
# degrees between the head's direction in the picture and straight up beyond which the body is not upright: a baby
# sitting up before a camera held level has its head up in the picture (`head_up`)
UPRIGHT_DEG = 45.0
UNKNOWN = "unknown"  # reported when the cues are too weak or disagree (see `PostureVote`)
END_ON = (0.7, 1.1)  # 2D trunk length / mean torso width: end-on below the first, lengthwise from the second
SIDE_2D = 0.25  # |signed width / trunk length^2| below which the 2D cue says "side"
FULL_2D = 0.6  # |signed width / trunk length^2| of a flat supine or prone torso (full 2D margin)
_P, _T = JOINT_INDEX["pelvis"], JOINT_INDEX["thorax"]
_LS, _RS = JOINT_INDEX["left_shoulder"], JOINT_INDEX["right_shoulder"]
_LH, _RH = JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]


def anterior_3d(kp3d: np.ndarray) -> np.ndarray | None:
    """Unit anterior direction of the torso in camera axes, or None for a degenerate torso. kp3d: (J, 3)."""
    up = kp3d[_T] - kp3d[_P]
    across = (kp3d[_LS] - kp3d[_RS]) + (kp3d[_LH] - kp3d[_RH])
    anterior = np.cross(across, up)
    norm = float(np.linalg.norm(anterior))
    return None if norm < 1e-9 else anterior / norm


def mat_normal(tilt: float) -> np.ndarray:
    """The mat's upward normal in camera axes for a camera pitched `tilt` degrees from looking straight down."""
    r = np.radians(tilt)
    return np.array([0.0, -np.sin(r), -np.cos(r)])


def facing_angle(anterior: np.ndarray | None, tilt: float = 0.0) -> float:
    """Degrees between an anterior direction (any non-zero length) and the mat's upward normal; 90 for None."""
    norm = 0.0 if anterior is None else float(np.linalg.norm(anterior))
    if anterior is None or norm < 1e-9:
        return 90.0
    return float(np.degrees(np.arccos(np.clip(anterior @ mat_normal(tilt) / norm, -1.0, 1.0))))


def facing_angle_3d(kp3d: np.ndarray, tilt: float = 0.0) -> float:
    """Degrees between the torso's anterior direction and the mat's upward normal (module docstring)."""
    return facing_angle(anterior_3d(kp3d), tilt)


def lengthwise(kp2d: np.ndarray, tilt: float = 0.0) -> float:
    """How fully the picture shows the trunk's length, in [0, 1] (module docstring): the 2D pelvis-to-thorax length
    over the mean of the shoulder and hip widths and over cos(tilt), mapped linearly from END_ON[0] (0) to
    END_ON[1] (1). A torso with no width (on its side, shoulders stacked) is seen lengthwise. kp2d: (J, >=2)
    pixels; tilt: the camera's pitch from straight down, degrees in [0, 90)."""
    trunk = float(np.linalg.norm(kp2d[_T, :2] - kp2d[_P, :2]))
    width = 0.5 * float(np.linalg.norm(kp2d[_LS, :2] - kp2d[_RS, :2]) + np.linalg.norm(kp2d[_LH, :2] - kp2d[_RH, :2]))
    if width < 1e-9:
        return 1.0
    lo, hi = END_ON
    ratio = trunk / width / np.cos(np.radians(tilt))
    return float(np.clip((ratio - lo) / (hi - lo), 0.0, 1.0))


def posture(
    kp2d: np.ndarray | None, kp3d: np.ndarray | None = None, tilt: float = 0.0, handed: float | None = None
) -> str | None:
    """'supine', 'side' or 'prone' (`posture_with_margin` without the margin)."""
    return posture_with_margin(kp2d, kp3d, tilt, handed)[0]


def posture_with_margin(
    kp2d: np.ndarray | None,
    kp3d: np.ndarray | None = None,
    tilt: float = 0.0,
    handed: float | None = None,
    torso: np.ndarray | None = None,
) -> tuple[str | None, float]:
    """(posture, margin in [0, 1]): how far the cue lies from the nearest class boundary (0: on it, 1: far).

    3D, for the facing angle a against the mat of a camera pitched `tilt` degrees: supine (45 - a) / 45,
    prone (a - 135) / 45, side min(a - 45, 135 - a) / 45. The anterior direction is `torso` when given (a
    `TorsoMean` over recent frames; the margin is scaled by its length, the frames' agreement), else kp3d's own.
    2D: supine/prone (|s| - SIDE_2D) / (FULL_2D - SIDE_2D), side (SIDE_2D - |s|) / SIDE_2D, clipped to [0, 1].
    Both: prone with the 2D margin where the handedness shows the back (>= BACK_2D), else the 3D reading. The
    handedness is `handed` (a second model's signed width of the same torso) when given, else kp2d's own. With
    kp2d every margin is scaled by `lengthwise(kp2d, tilt)` (a trunk seen end-on gives no posture).
    """
    label, margin = _posture_margin(kp2d, kp3d, tilt, handed, torso)
    return label, margin if kp2d is None else margin * lengthwise(kp2d, tilt)


def _posture_margin(
    kp2d: np.ndarray | None, kp3d: np.ndarray | None, tilt: float, handed: float | None, torso: np.ndarray | None
) -> tuple[str | None, float]:
    s = None if kp2d is None else signed_width_2d(kp2d)
    back = s if handed is None else handed
    if back is not None and back >= BACK_2D:
        return "prone", float(np.clip((back - SIDE_2D) / (FULL_2D - SIDE_2D), 0.0, 1.0))
    anterior = torso if torso is not None else None if kp3d is None else anterior_3d(kp3d)
    if torso is not None or kp3d is not None:
        a = facing_angle(anterior, tilt)
        label = "supine" if a < 45 else "prone" if a > 135 else "side"
        margins = {"supine": (45 - a) / 45, "prone": (a - 135) / 45, "side": min(a - 45, 135 - a) / 45}
        agreement = 1.0 if torso is None else min(float(np.linalg.norm(torso)), 1.0)
        return label, float(np.clip(margins[label] * agreement, 0.0, 1.0))
    if s is None:
        return None, 0.0
    if abs(s) < SIDE_2D:
        return "side", float(np.clip((SIDE_2D - abs(s)) / SIDE_2D, 0.0, 1.0))
    return ("supine" if s < 0 else "prone"), float(np.clip((abs(s) - SIDE_2D) / (FULL_2D - SIDE_2D), 0.0, 1.0))


@dataclass(frozen=True)
class PostureConfig:
    window: float = 2.0  # seconds of per-frame cues that vote
    min_confidence: float = 0.5  # below it the posture is reported "unknown"
    camera_tilt: float | None = None  # degrees the camera is pitched from straight down; None: estimated (MatTilt)
    max_tilt: float = 60.0  # the largest tilt the estimate may reach
    tilt_window: float = 300.0  # seconds of torsos the estimate remembers
    torso_window: float = 2.0  # seconds of torso directions averaged before the facing angle is read (`TorsoMean`)
    # seconds of stream time between runs of the image classifier (about 35 ms per member on a 2-core CPU, and the
    # shipped file has three); the frames between reuse its last probabilities (0: every frame)
    image_every: float = 0.5

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise InputError(f"posture window {self.window} s must be > 0")
        if self.image_every < 0:
            raise InputError(f"image_every {self.image_every} s must be >= 0")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise InputError(f"--posture-confidence {self.min_confidence} must be in [0, 1]")
        if self.camera_tilt is not None and not 0.0 <= self.camera_tilt < 90.0:
            raise InputError(f"--camera-tilt {self.camera_tilt} must be 'auto' or degrees in [0, 90)")
        if self.torso_window < 0:
            raise InputError(f"torso_window {self.torso_window} s must be >= 0")
        if not 0.0 <= self.max_tilt < 90.0 or self.tilt_window <= 0:
            raise InputError(f"max_tilt {self.max_tilt} must be in [0, 90) and tilt_window {self.tilt_window} > 0")


def parse_tilt(text: str) -> float | None:
    """`--camera-tilt`: 'auto' -> None (estimated), else degrees in [0, 90); InputError otherwise."""
    if text.strip().lower() == "auto":
        return None
    try:
        tilt = float(text)
    except ValueError:
        raise InputError(f"--camera-tilt {text!r} must be 'auto' or degrees from straight down") from None
    PostureConfig(camera_tilt=tilt)  # InputError out of range
    return tilt


class MatTilt:
    """The camera's pitch from straight down, in degrees: the configured one, or estimated from the torsos seen.

    A supine torso faces the mat's normal, which a camera pitched by `tilt` sees leaning towards the top of
    its picture by `tilt` (`mat_normal`). The estimate is the median, over the last `tilt_window` seconds, of
    each torso's lean towards the picture's top, `atan2(-a_y, -a_z)` of its anterior direction `a`, clipped
    to [0, max_tilt]. Torsos turned sideways in the picture (|a_x| >= SIDEWAYS, a baby on its side with its
    spine along the picture's vertical) and torsos facing away from the camera do not vote, and a lean
    towards the picture's bottom clips to 0 (an overhead camera). So the estimate can tilt a torso's reading
    towards supine only when it leans the way a pitched camera makes it lean, and a body turned sideways
    in the picture reads side at any tilt. What it cannot tell apart: a baby lying rolled towards the far
    side of the mat for the whole window looks like a supine baby under a pitched camera. `--camera-tilt`
    sets the tilt when it is known.
    """

    SIDEWAYS = 0.5  # |a_x| of a unit anterior from which a torso does not vote

    def __init__(self, config: PostureConfig | None = None) -> None:
        self.config = config or PostureConfig()
        self._leans: deque[tuple[float, float]] = deque()

    @property
    def tilt(self) -> float:
        """Degrees: the configured tilt, else the estimate (0 before any torso has voted)."""
        if self.config.camera_tilt is not None:
            return self.config.camera_tilt
        if not self._leans:
            return 0.0
        return float(np.clip(np.median([lean for _, lean in self._leans]), 0.0, self.config.max_tilt))

    def update(self, t: float, kp3d: np.ndarray | None) -> float:
        """Add the torso of the frame at stream time t (s), when it votes; the tilt to read it against."""
        anterior = None if kp3d is None or self.config.camera_tilt is not None else anterior_3d(kp3d)
        if anterior is not None and abs(anterior[0]) < self.SIDEWAYS and anterior[2] < 0:
            self._leans.append((t, float(np.degrees(np.arctan2(-anterior[1], -anterior[2])))))
        while self._leans and self._leans[0][0] < t - self.config.tilt_window:
            self._leans.popleft()
        return self.tilt


class TorsoMean:
    """The torso's anterior direction averaged over the last `torso_window` seconds of stream time.

    Each frame's lifted torso is noisy, and noise in a direction always moves it away from the mat's normal on
    average: a supine torso read frame by frame drifts towards "side" and `unknown` in proportion to the
    noise, not to the body. Averaging the unit directions first and reading the facing angle of the mean
    removes that bias; the mean's length (1: every frame points the same way, near 0: they cancel) scales the
    margin, so frames that disagree still weaken the cue (`posture_with_margin`'s `torso`). Frames without a
    torso do not count; `reset()` when the infant leaves the view. A window of 0 keeps no history (each
    frame's own direction, the behaviour before stop 36).
    """

    def __init__(self, config: PostureConfig | None = None) -> None:
        self.config = config or PostureConfig()
        self._directions: deque[tuple[float, np.ndarray]] = deque()

    def reset(self) -> None:
        self._directions.clear()

    def update(self, t: float, kp3d: np.ndarray | None) -> np.ndarray | None:
        """The mean unit anterior (length <= 1) after adding the torso of the frame at stream time t (s);
        None while no frame in the window had a torso."""
        anterior = None if kp3d is None else anterior_3d(kp3d)
        if self.config.torso_window == 0:
            return anterior
        if anterior is not None:
            self._directions.append((t, anterior))
        while self._directions and self._directions[0][0] <= t - self.config.torso_window:
            self._directions.popleft()
        if not self._directions:
            return None
        return np.mean([d for _, d in self._directions], axis=0)


class PostureVote:
    """Posture over a window of stream time, with a confidence; "unknown" when the cues are weak or disagree.

    Each frame gives (posture, margin) from `posture_with_margin`. The reported posture is the one with the
    largest summed margin over the last `window` seconds; its confidence is that sum divided by the number of
    frames in the window (1: every frame agrees, far from any boundary; a posture that half the frames give,
    or that all give near a boundary, scores about 0.5). Call `reset()` when the infant leaves the view.
    """

    def __init__(self, config: PostureConfig | None = None) -> None:
        self.config = config or PostureConfig()
        self._cues: deque[tuple[float, str | None, float]] = deque()

    def reset(self) -> None:
        self._cues.clear()

    def update(self, t: float, label: str | None, margin: float) -> tuple[str, float]:
        """(posture or "unknown", confidence in [0, 1]) after adding the cue of the frame at stream time t (s)."""
        self._cues.append((t, label, margin))
        while self._cues and self._cues[0][0] < t - self.config.window:
            self._cues.popleft()
        score = dict.fromkeys(POSTURES, 0.0)
        for _, lab, m in self._cues:
            if lab in score:
                score[lab] += m
        best = max(POSTURES, key=lambda k: score[k])
        confidence = score[best] / len(self._cues)
        return (best if confidence >= self.config.min_confidence else UNKNOWN), round(confidence, 3)


def head_up(turn: float) -> bool:
    """Whether a window turned `turn` degrees counter-clockwise to bring the head up (`Result.turn`: the head's
    direction in the picture, clockwise from up, as located with `--head auto`, the default, or as a fixed `--head`
    declares it) shows a head within `UPRIGHT_DEG` of up in the picture."""
    return abs((turn + 180.0) % 360.0 - 180.0) <= UPRIGHT_DEG


def fuse(
    geometry: tuple[str | None, float], image: np.ndarray | None, upright: bool = True
) -> tuple[str | None, float]:
    """One frame's (posture, margin) from the geometric cue and the image classifier's probabilities (in the order
    of `IMAGE_CLASSES`: supine, side, prone, sitting).

    The image votes only where it reads the back, the front or sitting up (the most likely of its classes), and
    never turns the geometry's side into supine: its side class is its weakest on renders and read side views of
    real babies on their back as side (docs/MONITOR.md, "Posture from the pose model's window"), so side against
    supine stays the geometry's call. The image margin is (p_max - 1/K) / (1 - 1/K) for K classes. When both say
    the same posture the margin is the larger one (a weak second opinion does not weaken a strong first one); when
    they disagree the one with the larger margin wins with the difference as its margin, so two confident but
    contradicting cues add up to nothing. Sitting up is none of the postures: an image that says sitting takes its
    margin off the geometry's posture, and leaves no posture (None) where it is the surer of the two, but only
    where the body can be upright (`upright`: the head up in the picture, `head_up`): in a window turned head-up,
    a baby on its back filmed from its side by a low camera looks like one sitting up, and real ones were read
    so (docs/MONITOR.md). No image probabilities, an image that says side, supine against the geometry's side, or
    sitting where the head is not up: the geometric cue alone.
    """
    label, margin = geometry
    if image is None:
        return label, margin
    k = int(np.argmax(image))
    said = IMAGE_CLASSES[k]
    if said == "side" or (label == "side" and said == "supine") or (said == SITTING and not upright):
        return label, margin
    m_img = float(np.clip((image[k] - 1 / len(image)) / (1 - 1 / len(image)), 0.0, 1.0))
    if said == SITTING:
        return (label, margin - m_img) if label is not None and margin > m_img else (None, 0.0)
    if label is None:
        return said, m_img
    if said == label:
        return label, max(margin, m_img)
    return (said, m_img - margin) if m_img > margin else (label, margin - m_img)

"""Spontaneous infant-like movement: smooth random joint trajectories with periods of stillness.

Each degree of freedom of `Pose` is neutral + a sum of three sinusoids (random frequencies 0.15-1.1 Hz,
random amplitudes) evaluated in a per-limb "motion time". Motion time advances with an activity gate
that smoothly drops to 0 in random stillness windows, so a still limb freezes in whatever pose it had
(instead of snapping back to neutral). Hip and knee share a "kick" component, shoulder and elbow an
"arm wave" component, and left/right limbs are partly correlated. Values pass through a smooth clamp
(tanh) into joint limits. The whole body also rotates (within +-22 deg) and drifts (within +-7% of the
frame) slowly on the mat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpt_live.synth.body import POSE_FIELDS, Pose

SCENARIOS: tuple[str, ...] = ("supine", "side", "prone", "mixed")

# name: (neutral, std, low, high) in degrees; one entry per side for limb DOFs ("sh_abd" -> l_/r_).
_DOFS: dict[str, tuple[float, float, float, float]] = {
    "head_yaw": (0.0, 30.0, -75.0, 75.0),
    "head_tilt": (0.0, 8.0, -25.0, 25.0),
    "head_nod": (0.0, 6.0, -20.0, 20.0),
    "trunk_bend": (0.0, 4.0, -12.0, 12.0),
    "sh_abd": (55.0, 32.0, 10.0, 165.0),
    "sh_elev": (12.0, 20.0, -10.0, 78.0),
    "elbow": (30.0, 32.0, 5.0, 145.0),
    "elbow_twist": (30.0, 25.0, -45.0, 90.0),
    "hip_abd": (15.0, 13.0, -5.0, 55.0),
    "hip_elev": (20.0, 24.0, -5.0, 80.0),
    "knee": (35.0, 30.0, 0.0, 140.0),
    "knee_twist": (10.0, 15.0, -30.0, 50.0),
    "ankle": (10.0, 14.0, -30.0, 45.0),
}
# A baby on its tummy: arms in a "W" beside the head (shoulders abducted, elbows bent towards the head in
# the mat plane, twist ~90), legs frog-like (hips abducted, knees bent with the shins either on the mat
# pointing down and in, twist ~-90, or lifted off it, twist ~0), the head turned onto one cheek or lifted.
_PRONE: dict[str, tuple[float, float, float, float]] = {
    "head_nod": (-6.0, 10.0, -35.0, 12.0),
    "sh_abd": (115.0, 28.0, 25.0, 170.0),
    "sh_elev": (2.0, 8.0, -15.0, 20.0),
    "elbow": (85.0, 30.0, 20.0, 145.0),
    "elbow_twist": (85.0, 20.0, 30.0, 120.0),
    "hip_abd": (42.0, 15.0, 10.0, 80.0),
    "hip_elev": (5.0, 8.0, -10.0, 30.0),
    "knee": (75.0, 30.0, 10.0, 130.0),
    "knee_twist": (-55.0, 35.0, -100.0, 20.0),
}
# Tummy time: a prone baby propped on its forearms or hands, the chest lifted (the back arched by `trunk_pitch`,
# negative), the head raised and looking ahead. Each upper arm hangs from the lifted shoulder to the mat: its
# elevation is set per frame to 90 deg less the lift (`_prop_arms`), the entries below are its spread about that; the
# elbow straightens as the chest rises (forearms flat on the mat near 12 deg, arms nearly straight near 35 deg).
_PROPPED: dict[str, tuple[float, float, float, float]] = {
    "trunk_pitch": (-22.0, 7.0, -38.0, -10.0),
    "head_nod": (-28.0, 10.0, -50.0, -5.0),
    "head_yaw": (0.0, 25.0, -70.0, 70.0),
    "sh_abd": (18.0, 8.0, 0.0, 45.0),
    "sh_elev": (0.0, 5.0, -12.0, 12.0),
    "elbow": (0.0, 8.0, -20.0, 20.0),
    "elbow_twist": (0.0, 12.0, -30.0, 30.0),
}
# Sitting (an infant of about six months and older, on its back's roll with the trunk raised about the pelvis to
# near vertical by `trunk_pitch`): the thighs forward along the mat and spread, the knees bent with the shins turned
# in on the mat (ring sitting, twist ~-65) or nearly straight, the arms hanging forward from the raised shoulders
# (hands in the lap, reaching, or propping on the mat in front), the head upright on the trunk.
_SITTING: dict[str, tuple[float, float, float, float]] = {
    "trunk_pitch": (80.0, 6.0, 62.0, 95.0),
    "trunk_bend": (0.0, 5.0, -15.0, 15.0),
    "head_nod": (0.0, 10.0, -30.0, 25.0),
    "sh_abd": (25.0, 15.0, 0.0, 100.0),
    "sh_elev": (40.0, 25.0, -10.0, 110.0),
    "elbow": (45.0, 30.0, 5.0, 145.0),
    "hip_abd": (30.0, 10.0, 5.0, 55.0),
    "hip_elev": (5.0, 6.0, -5.0, 25.0),
    "knee": (55.0, 30.0, 0.0, 120.0),
    "knee_twist": (-65.0, 15.0, -95.0, -30.0),
}
# In a bouncer or car seat (`seated`; the seat itself is the look's, `look_geometry`): reclined on the seat's back with
# the trunk raised off the mat by `trunk_pitch` (each clip its own recline, 30-50 deg, rocking a few degrees about it),
# the head resting on the seat's back, the thighs raised off the mat towards the seat's front edge, the shins hanging
# down from bent knees, the arms beside the body or on the thighs (inside a car seat's wings).
_SEATED: dict[str, tuple[float, float, float, float]] = {
    "trunk_pitch": (40.0, 2.0, 25.0, 55.0),
    "trunk_bend": (0.0, 2.0, -6.0, 6.0),
    "head_nod": (-5.0, 5.0, -15.0, 10.0),
    "sh_abd": (15.0, 10.0, 0.0, 60.0),
    "sh_elev": (25.0, 20.0, -10.0, 90.0),
    "elbow": (60.0, 30.0, 5.0, 145.0),
    "hip_abd": (20.0, 8.0, 0.0, 45.0),
    "hip_elev": (30.0, 10.0, 5.0, 60.0),
    "knee": (70.0, 25.0, 10.0, 120.0),
    "knee_twist": (0.0, 12.0, -30.0, 30.0),
}
# A young infant's flexed resting posture (supine or on its side): thighs raised and turned out, knees and
# elbows bent, arms closer to the body. `sample_motion(flexion=f)` moves the neutral angles of `_DOFS` this far
# (f = 1) towards these; spreads and limits stay.
_FLEXED: dict[str, float] = {"hip_elev": 70.0, "hip_abd": 30.0, "knee": 90.0, "knee_twist": 25.0, "elbow": 100.0,
                             "sh_abd": 40.0}  # fmt: skip
# Hands held at the face or chest (a newborn's hand at its mouth or cheek, forearm across the chest): the arm
# positions that put the hand there (checked by forward kinematics, `tests/test_synth.py`), each with a small
# spread so the hand stays near. `sample_motion(hands=(l, r))` gives an arm the layout of index l / r (-1: free).
HAND_POSES: tuple[dict[str, tuple[float, float, float, float]], ...] = (
    {  # at the cheek or ear: the upper arm beside the head, the forearm bent back to the face
        "sh_abd": (135.0, 12.0, 10.0, 170.0),
        "sh_elev": (15.0, 10.0, -10.0, 78.0),
        "elbow": (115.0, 12.0, 5.0, 145.0),
        "elbow_twist": (75.0, 10.0, -45.0, 95.0),
    },
    {  # at the mouth: the upper arm raised in front of the chest, the forearm bent in towards the face
        "sh_abd": (40.0, 12.0, 10.0, 170.0),
        "sh_elev": (85.0, 8.0, -10.0, 100.0),
        "elbow": (105.0, 12.0, 5.0, 145.0),
        "elbow_twist": (-45.0, 12.0, -90.0, 95.0),
    },
    {  # on the chest: the elbow beside the trunk, the forearm across it
        "sh_abd": (30.0, 12.0, 10.0, 170.0),
        "sh_elev": (50.0, 10.0, -10.0, 100.0),
        "elbow": (130.0, 10.0, 5.0, 145.0),
        "elbow_twist": (-40.0, 12.0, -90.0, 95.0),
    },
)
# A baby on its side under gravity (`sample_motion(side_gravity=True)`): the upper arm and leg rest on the body,
# in front of the trunk (shoulder and hip brought forward, the thigh over the lower one), the lower ones lie forward
# along the mat; without it a side-lying body holds its limbs up in the air as a supine one spreads them on the mat.
_SIDE_UPPER: dict[str, tuple[float, float, float, float]] = {
    "sh_abd": (0.0, 10.0, -20.0, 60.0),
    "sh_elev": (50.0, 20.0, -10.0, 95.0),
    "elbow": (60.0, 30.0, 5.0, 145.0),
    "hip_abd": (0.0, 8.0, -15.0, 30.0),
    "hip_elev": (45.0, 20.0, -5.0, 100.0),
    "knee": (60.0, 25.0, 0.0, 140.0),
}
_SIDE_LOWER: dict[str, tuple[float, float, float, float]] = {
    "sh_abd": (25.0, 15.0, 0.0, 90.0),
    "sh_elev": (65.0, 15.0, 10.0, 100.0),
    "elbow": (60.0, 30.0, 5.0, 145.0),
    "hip_abd": (5.0, 6.0, -10.0, 20.0),
    "hip_elev": (30.0, 20.0, -5.0, 100.0),
    "knee": (50.0, 25.0, 0.0, 140.0),
}
# Limb DOFs driven partly by the limb's shared component, and how strongly (correlation).
_SHARED: dict[str, float] = {"sh_abd": 0.6, "elbow": 0.6, "hip_elev": 0.75, "knee": 0.75}
_LIMB_OF: dict[str, str] = {
    "sh_abd": "arm",
    "sh_elev": "arm",
    "elbow": "arm",
    "elbow_twist": "arm",
    "hip_abd": "leg",
    "hip_elev": "leg",
    "knee": "leg",
    "knee_twist": "leg",
    "ankle": "leg",
}


@dataclass(frozen=True)
class Motion:
    """Per-frame pose and placement of one video."""

    scenario: str  # "supine", "side" or "prone" (never "mixed")
    roll: float  # radians about the body's long axis: 0 supine, +-pi/2 side, pi prone
    angles: dict[str, np.ndarray]  # one (F,) radians array per `Pose` field
    yaw: np.ndarray  # (F,) radians, rotation on the mat about world +z (counter-clockwise from above)
    drift: np.ndarray  # (F, 2) body offset as fractions of the image (x: of width, y: of height, down)
    activity: np.ndarray  # (F,) mean activity gate of the limbs, 0 = still, ~1 = moving
    flexion: float = 0.0  # how far the resting posture was moved towards `_FLEXED` (0: not at all)
    hands: tuple[int, int] = (-1, -1)  # the `HAND_POSES` layout of the left / right arm (-1: free)
    propped: bool = False  # prone on its forearms or hands, the chest lifted (tummy time, `_PROPPED`)
    sitting: bool = False  # on its back's roll, the trunk raised: sitting up (`_SITTING`)
    seated: bool = False  # on its back's roll, reclined in a bouncer or car seat (`_SEATED`)

    def pose(self, frame: int) -> Pose:
        """Joint angles of one frame."""
        return Pose(**{k: float(v[frame]) for k, v in self.angles.items()})


def _prop_arms(values: dict[str, np.ndarray]) -> None:
    """Hang each upper arm of a propped baby (`_PROPPED`) from its shoulder to the mat, degrees in place: elevation
    90 deg less the chest's lift (vertical in the world), elbow from 95 deg (forearm flat, chest 12 deg up) to
    20 deg (arm nearly straight, 35 deg up), each plus its drawn spread."""
    lift = -values["trunk_pitch"]
    bend = np.interp(lift, [12.0, 35.0], [95.0, 20.0])
    for side in ("l", "r"):
        values[f"{side}_sh_elev"] = 90.0 - lift + values[f"{side}_sh_elev"]
        values[f"{side}_elbow"] = np.clip(bend + values[f"{side}_elbow"], 5.0, 145.0)


@dataclass(frozen=True)
class _Wave:
    """Sum of sinusoids with unit-ish standard deviation scaled by `std`."""

    freqs: np.ndarray  # (K,) Hz of motion time
    amps: np.ndarray  # (K,) amplitudes
    phases: np.ndarray  # (K,) radians

    def __call__(self, tau: np.ndarray) -> np.ndarray:
        arg = 2.0 * np.pi * self.freqs[:, None] * tau[None, :] + self.phases[:, None]
        out: np.ndarray = (self.amps[:, None] * np.sin(arg)).sum(axis=0)
        return out


def _wave(rng: np.random.Generator, std: float = 1.0, fmin: float = 0.15, fmax: float = 1.1) -> _Wave:
    k = 3
    weights = rng.dirichlet(np.ones(k))
    return _Wave(
        freqs=np.exp(rng.uniform(np.log(fmin), np.log(fmax), k)),
        amps=std * np.sqrt(2.0 * weights),
        phases=rng.uniform(0.0, 2.0 * np.pi, k),
    )


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    out: np.ndarray = x * x * (3.0 - 2.0 * x)
    return out


def _stillness_gate(rng: np.random.Generator, t: np.ndarray, rate_hz: float) -> np.ndarray:
    """(F,) gate in [0, 1]: 1 while moving, smoothly 0 inside random stillness windows (0.6-2 s)."""
    duration = float(t[-1]) if len(t) > 1 else 0.0
    gate = np.ones_like(t)
    for _ in range(rng.poisson(rate_hz * max(duration, 0.0))):
        start = rng.uniform(0.3 * duration, duration)
        length = rng.uniform(0.6, 2.0)
        ramp = 0.25
        bump = _smoothstep((t - start) / ramp) * _smoothstep((start + length - t) / ramp)
        gate *= 1.0 - bump
    return gate


def _motion_time(rng: np.random.Generator, t: np.ndarray, gate: np.ndarray, fps: float) -> np.ndarray:
    speed = 1.0 + 0.35 * np.sin(2.0 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 2 * np.pi))
    rate = gate * speed
    return np.concatenate([[0.0], np.cumsum(rate[:-1])]) / fps


def _soft_clip(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    out: np.ndarray = mid + half * np.tanh((x - mid) / half)
    return out


def resolve_scenario(scenario: str, rng: np.random.Generator) -> tuple[str, float]:
    """("supine" | "side" | "prone", roll in radians); "mixed" draws 60% supine, 20% side, 20% prone."""
    if scenario == "mixed":
        scenario = str(rng.choice(["supine", "side", "prone"], p=[0.6, 0.2, 0.2]))
    if scenario == "supine":
        return scenario, 0.0
    if scenario == "prone":
        return scenario, float(np.pi)
    return scenario, float(np.pi / 2 * rng.choice([-1.0, 1.0]))


def _dof_table(
    scenario: str, rng: np.random.Generator, flexion: float, propped: bool, sitting: bool, seated: bool = False
) -> dict[str, tuple[float, float, float, float]]:
    table = dict(_DOFS)
    if sitting:
        table.update(_SITTING)
    if seated:  # each clip its own recline about 40 deg, rocking a little about it
        table.update(_SEATED, trunk_pitch=(float(rng.uniform(30.0, 50.0)), *_SEATED["trunk_pitch"][1:]))
    if scenario == "prone":  # anterior is the mat: limbs stay in its plane, the head lies on one cheek
        table.update(_PRONE)
        table["head_yaw"] = (float(rng.choice([-70.0, 70.0])), 10.0, -88.0, 88.0)
        if propped:
            table.update(_PROPPED)
    for name, flexed in _FLEXED.items():
        neutral, std, lo, hi = table[name]
        table[name] = (neutral + flexion * (flexed - neutral), std, lo, hi)
    return table


def sample_motion(
    rng: np.random.Generator,
    scenario: str,
    frames: int,
    fps: float,
    flexion: float = 0.0,
    hands: tuple[int, int] = (-1, -1),
    side_gravity: bool = False,
    propped: bool = False,
    sitting: bool = False,
    seated: bool = False,
) -> Motion:
    """Sample the joint trajectories of one video (`frames` frames at `fps`); `flexion` in [0, 1] moves the
    resting posture of a baby on its back or side towards a young infant's flexed one (`_FLEXED`); `hands`
    (left, right) holds an arm of a baby on its back or side in the layout `HAND_POSES[i]` (-1: free);
    `side_gravity` lets a baby on its side rest its limbs as gravity would (`_SIDE_UPPER`, `_SIDE_LOWER`);
    `propped` props a baby on its tummy on its forearms or hands (`_PROPPED`; no effect in other postures);
    `sitting` sits a baby on its back up (`_SITTING`; no effect in other postures); `seated` reclines a baby on its
    back in a seat instead (`_SEATED`; it wins over `sitting`; no effect in other postures)."""
    scenario, roll = resolve_scenario(scenario, rng)
    propped = propped and scenario == "prone"
    seated = seated and scenario == "supine"
    sitting = sitting and scenario == "supine" and not seated
    upright = sitting or seated
    flexion = flexion if scenario != "prone" and not upright else 0.0  # prone, sitting, seated: their own layouts
    held = dict(zip(("l", "r"), hands, strict=True)) if scenario != "prone" else {}
    layouts: dict[str, dict[str, tuple[float, float, float, float]]] = {"l": {}, "r": {}}
    if scenario == "side" and side_gravity:  # roll > 0 turns the left side (+x) down onto the mat (`body.rot_y`)
        upper = "r" if roll > 0 else "l"
        lower = "l" if upper == "r" else "r"
        layouts = {upper: dict(_SIDE_UPPER), lower: dict(_SIDE_LOWER)}
    for side, i in held.items():
        if i >= 0:
            layouts[side] = {**layouts[side], **HAND_POSES[i]}
    table = _dof_table(scenario, rng, flexion, propped, sitting, seated)
    t = np.arange(frames, dtype=np.float64) / fps
    vigour = rng.uniform(0.75, 1.3)
    body_gate = _stillness_gate(rng, t, rate_hz=1.0 / 8.0)
    values: dict[str, np.ndarray] = {}
    gates = []
    taus: dict[str, np.ndarray] = {}
    for group in ("head", "l_arm", "r_arm", "l_leg", "r_leg"):
        gate = body_gate * _stillness_gate(rng, t, rate_hz=1.0 / 10.0)
        gates.append(gate)
        taus[group] = _motion_time(rng, t, gate, fps)
    shared = {limb: (_wave(rng), _wave(rng), rng.uniform(-0.4, 0.8)) for limb in ("arm", "leg")}
    for name, entry in table.items():
        spread = rng.uniform(0.8, 1.2)
        if name not in _LIMB_OF:
            neutral, std, lo, hi = entry
            std = std * vigour * spread
            tau = taus["head"]
            values[name] = _soft_clip(neutral + std * _wave(rng)(tau), lo, hi)
            continue
        limb = _LIMB_OF[name]
        wave_l, wave_r, rho = shared[limb]
        c = _SHARED.get(name, 0.0)
        for side in ("l", "r"):
            neutral, std, lo, hi = layouts[side].get(name, entry)
            std = std * vigour * spread
            tau = taus[f"{side}_{limb}"]
            common = wave_l(tau) if side == "l" else rho * wave_l(tau) + np.sqrt(1 - rho**2) * wave_r(tau)
            x = neutral + std * (c * common + np.sqrt(1.0 - c * c) * _wave(rng)(tau))
            values[f"{side}_{name}"] = _soft_clip(x, lo, hi)
    lying = scenario != "prone" and not upright
    for side in ("l", "r") if lying else ():  # on its back the knee cannot bend into the mat:
        cap = values[f"{side}_hip_elev"] + 30.0
        k = 6.0
        knee = values[f"{side}_knee"]  # knee <= hip + 30 deg
        values[f"{side}_knee"] = -k * np.logaddexp(-knee / k, -cap / k)
    if propped:
        _prop_arms(values)
    values.setdefault("trunk_pitch", np.zeros(frames))  # outside tummy time the trunk is never pitched (no draw)
    angles = {k: np.radians(values[k]) for k in POSE_FIELDS}
    yaw0 = rng.uniform(-12.0, 12.0)
    yaw = yaw0 + rng.uniform(0.0, 10.0) * np.sin(2 * np.pi * rng.uniform(0.01, 0.05) * t + rng.uniform(0, 2 * np.pi))
    drift = np.stack(
        [
            rng.uniform(-0.04, 0.04)
            + rng.uniform(0.0, 0.03) * np.sin(2 * np.pi * rng.uniform(0.01, 0.05) * t + rng.uniform(0, 7))
            for _ in range(2)
        ],
        axis=1,
    )
    return Motion(
        scenario=scenario,
        roll=roll,
        angles=angles,
        yaw=np.radians(yaw),
        drift=drift,
        activity=np.mean(gates[1:], axis=0),
        flexion=flexion,
        hands=(held.get("l", -1), held.get("r", -1)),
        propped=propped,
        sitting=sitting,
        seated=seated,
    )

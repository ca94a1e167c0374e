"""2D -> 3D lifting (METHOD.md 2): a residual MLP from normalised root-centred 2D joints to per-joint depth.

Per frame (`Lifter`) or over a causal window of the subject's past frames (`TemporalLifter`, fed live by
`LiftStream`); both run live after the keypoint read-out. The geometry is a set of pure torch
functions (normalise, lift, rotate, project, metric scale) shared by the trainer, the backends (the
lifter is part of the exported ONNX graph) and the evaluation.

Convention for every function here: camera coordinates, x right, y down, z forward (away from the
camera), right-handed. 2D points are (x=col, y=row) in any pixel unit; "normalised" 2D is root-centred
(root = pelvis) and scaled per frame (`normalise_2d`): with `norm="bones"` (new lifters) so the mean 2D
bone length is `BONE_TO_ROOT_NECK` x `LifterConfig.root_neck` (0.04), bounded whatever the pose; with
`norm="root_neck"` (lifter files written before the option) so the root-to-neck length is `root_neck` (0.1).
"Lifter units" are those of a body whose root sits at depth c = 10 and whose normalised image is u = X / Z.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from tpt_live.backend import KeypointHistory
from tpt_live.checkpoint import default_lifter_path, read_meta, write_weights
from tpt_live.errors import InputError, ModelError
from tpt_live.skeleton import BONE_INDEX, JOINT_INDEX, NUM_JOINTS

FORMAT = "tpt-live/lifter"
FORMAT_VERSION = 1
ROOT = JOINT_INDEX["pelvis"]
NECK = JOINT_INDEX["neck"]
# Head-to-ankle chain used for metric scale: head-neck-thorax-pelvis, then each leg pelvis-hip-knee-ankle
# (the two legs averaged). Synthetic infants measure 0.567 m on it (data/test64, mean over frames).
SPINE_CHAIN = ("head", "neck", "thorax", "pelvis")
LEG_CHAINS = (("pelvis", "left_hip", "left_knee", "left_ankle"), ("pelvis", "right_hip", "right_knee", "right_ankle"))
INFANT_BODY_LENGTH_M = 0.55  # head-to-ankle chain of a 0-6 month infant (crown-heel about 0.5-0.68 m)
# The same chain for an adult of 1.75 m from Winter's segment proportions (hip joint at 0.53 H, shoulders at
# 0.82 H, head centre about 0.93 H, thigh and shank 0.245 H, hips 0.05 H apart): 0.70 m spine + 0.95 m leg.
ADULT_BODY_LENGTH_M = 1.65
# Frames the upright (adult) lifter sees by default (`train-lifter --views upright`): the causal temporal lifter
# with W = 9 (0.3 s at 30 fps) measured 62.5 +- 2.3 mm P-MPJPE against 75.8 +- 6.8 per frame (docs/LIFTING.md).
UPRIGHT_WINDOW = 9
NORMS = ("bones", "root_neck")
# Target mean 2D bone length (15 bones) per root_neck: about the 3D mean bone per root-to-neck length (0.36
# for the synthetic infants, 0.47 for CMU subject 131), so both normalisations give similar sizes.
BONE_TO_ROOT_NECK = 0.4


@dataclass(frozen=True)
class LifterConfig:
    """The lifter network and its geometry; stored inside every lifter file."""

    hidden: int = 256  # width of the residual MLP (Chen et al. use 1024; 256 measured enough for 16 joints)
    blocks: int = 2  # residual blocks, each 2 x (Linear, LeakyReLU, dropout)
    dropout: float = 0.1  # dropout inside the blocks (training only)
    camera_distance: float = 10.0  # c: depth of the root in lifter units
    root_neck: float = 0.1  # normalised root-to-neck length of the input
    min_depth: float = 1.0  # z_j = max(d_j + c, min_depth)
    body_length_m: float = INFANT_BODY_LENGTH_M  # assumed head-to-ankle chain for metric output, metres
    norm: str = "bones"  # 2D scale per frame: mean bone length ("bones") or root-to-neck length (older files)
    window: int = 1  # frames seen: 1 = per frame (`Lifter`); W > 1 = the past W - 1 frames too (`TemporalLifter`)
    roll_invariant: bool = True  # the MLP sees the input turned in the image plane so its trunk points up (False
    # in lifter files written before the option: the shipped infant lifter)

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.blocks < 0 or not 0.0 <= self.dropout < 1.0:
            raise InputError(f"bad lifter size hidden={self.hidden} blocks={self.blocks} dropout={self.dropout}")
        if self.camera_distance <= self.min_depth or self.root_neck <= 0 or self.body_length_m <= 0:
            raise InputError(
                f"bad lifter geometry c={self.camera_distance} min_depth={self.min_depth} "
                f"root_neck={self.root_neck} body_length_m={self.body_length_m}: need c > min_depth > 0"
            )
        if self.norm not in NORMS:
            raise InputError(f"normalisation {self.norm!r} is not one of {NORMS}")
        if self.window < 1:
            raise InputError(f"--window {self.window} must be 1 or more")


# -- pure geometry ------------------------------------------------------------------------------------
def normalise_2d(kp: Tensor, root_neck: float = 0.1, norm: str = "bones", eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Root-centre 2D joints and scale each frame to a fixed size.

    kp: (..., J, 2) any pixel unit (x=col, y=row). Returns (normalised (..., J, 2), scale (...,)) with
    normalised = (kp - kp[root]) * scale. Convention: axes keep their direction (x right, y down).
    norm "bones": the mean 2D length of the 15 bones becomes BONE_TO_ROOT_NECK x root_neck; a joint is
    no further from the root than the sum of the bones, so |normalised| <= 15 x BONE_TO_ROOT_NECK x
    root_neck (0.6) for any pose, even with the trunk pointing at the camera. norm "root_neck": the
    root-to-neck length becomes root_neck (unbounded when the trunk is foreshortened; kept for lifter
    files written before "bones").
    """
    centred = kp - kp[..., ROOT : ROOT + 1, :]
    if norm == "root_neck":
        length = torch.linalg.vector_norm(centred[..., NECK, :], dim=-1).clamp_min(eps)
        scale = root_neck / length
    elif norm == "bones":
        a, b = zip(*BONE_INDEX, strict=True)
        bones = torch.linalg.vector_norm(kp[..., list(b), :] - kp[..., list(a), :], dim=-1).mean(-1)
        scale = BONE_TO_ROOT_NECK * root_neck / bones.clamp_min(eps)
    else:
        raise InputError(f"normalisation {norm!r} is not one of {NORMS}")
    return centred * scale[..., None, None], scale


def upright_turn(x: Tensor, eps: float = 1e-6) -> Tensor:
    """(..., 2, 2) rotations M that turn root-centred 2D poses x (..., J, 2) in the image plane so that the
    trunk (pelvis to the mean of thorax, neck and head) points up (-y): the turned pose is x @ M.mT.

    Convention: image axes x right, y down; M is a proper rotation (det +1, never a mirror), so anatomical
    left and right and the depth sign are kept. A camera roll turns the image about the optical axis and the
    lift's depths do not change (lift, rotate and project commute with turns about z), so a lifter that
    sees the turned pose is exactly invariant to camera roll and to a body lying any way round in the image.
    A trunk of zero 2D length (pointing at the camera) gets the identity.
    """
    v = x[..., [JOINT_INDEX["thorax"], NECK, JOINT_INDEX["head"]], :].mean(-2) - x[..., ROOT, :]
    v = v + torch.tensor([0.0, -eps], dtype=x.dtype, device=x.device)
    u = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    ux, uy = u.unbind(-1)
    return torch.stack([-uy, ux, -ux, -uy], -1).unflatten(-1, (2, 2))


def lift_from_depth(x: Tensor, d: Tensor, c: float = 10.0, min_depth: float = 1.0) -> Tensor:
    """Root-centred 3D pose from normalised 2D joints and per-joint depth offsets.

    x: (..., J, 2) normalised image coordinates (u = X / Z); d: (..., J) depth offsets (d[root] is set
    to 0). z_j = max(d_j + c, min_depth); X_j = (x_j z_j, y_j z_j, z_j); returns X - X[root], (..., J, 3)
    in lifter units, camera axes (x right, y down, z forward). project(result, c) == x when no z clamps.
    """
    d = d - d[..., ROOT : ROOT + 1]
    z = (d + c).clamp_min(min_depth)
    X = torch.cat([x * z[..., None], z[..., None]], dim=-1)
    return X - X[..., ROOT : ROOT + 1, :]


def project(X: Tensor, c: float = 10.0, min_depth: float = 1.0) -> Tensor:
    """Perspective projection of a root-centred pose placed with its root at depth c on the optical axis.

    X: (..., J, 3) camera axes (x right, y down, z forward). Returns (..., J, 2): u = X_x / (X_z + c),
    v = X_y / (X_z + c), focal length 1, principal point 0 (depth clamped to >= min_depth).
    """
    z = (X[..., 2:3] + c).clamp_min(min_depth)
    return X[..., :2] / z


def rotation_matrix(axis: Tensor, angle: Tensor) -> Tensor:
    """Rotation matrices from axes (..., 3) (any length > 0) and angles (...) in radians (Rodrigues).

    Convention: active, right-handed, applied to column vectors X' = R @ X (row arrays: X @ R.mT). In
    camera axes (x right, y down, z forward) +90 deg about +z takes +x (right) to +y (down), and +90 deg
    about +x takes +y (down) to +z (forward).
    """
    k = axis / torch.linalg.vector_norm(axis, dim=-1, keepdim=True)
    kx, ky, kz = k.unbind(-1)
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=-1).reshape(*k.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=k.dtype, device=k.device).expand_as(K)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    return eye + s * K + (1 - c) * (K @ K)


def rotate(X: Tensor, R: Tensor) -> Tensor:
    """Rotate poses about their root (the origin): X (..., J, 3) rows, R (..., 3, 3) -> X @ R^T."""
    return X @ R.mT


def chain_length(X: Tensor) -> Tensor:
    """Head-to-ankle chain length (..., ) of poses (..., J, 3): spine plus the mean of the two legs."""

    def path(names: tuple[str, ...]) -> Tensor:
        idx = [JOINT_INDEX[n] for n in names]
        return torch.linalg.vector_norm(X[..., idx[1:], :] - X[..., idx[:-1], :], dim=-1).sum(-1)

    return path(SPINE_CHAIN) + 0.5 * (path(LEG_CHAINS[0]) + path(LEG_CHAINS[1]))


def to_metric(X: Tensor, body_length_m: float) -> Tensor:
    """Scale root-centred poses (..., J, 3) so each frame's head-to-ankle chain is `body_length_m` metres.

    Scale is unobservable from one view: this is the assumed-size metric pose, camera axes, root-relative.
    """
    return X * (body_length_m / chain_length(X).clamp_min(1e-9))[..., None, None]


# -- network ------------------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Dropout(dropout),
        )  # fmt: skip

    def forward(self, h: Tensor) -> Tensor:
        return h + self.net(h)


class Lifter(nn.Module):
    """Residual MLP: normalised 2D (B, J, 2) -> root-centred 3D (B, J, 3) in lifter units (camera axes).

    The last layer starts at zero, so an untrained lifter is the flat (zero-depth) pose.
    """

    def __init__(self, cfg: LifterConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or LifterConfig()
        w = self.cfg.hidden
        self.inp = nn.Sequential(nn.Linear(2 * NUM_JOINTS, w), nn.LeakyReLU(0.2))
        self.blocks = nn.Sequential(*[ResidualBlock(w, self.cfg.dropout) for _ in range(self.cfg.blocks)])
        self.out = nn.Linear(w, NUM_JOINTS)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.metadata: dict[str, Any] = {}

    def upright(self, x: Tensor, reference: Tensor | None = None) -> Tensor:
        """Normalised 2D (..., J, 2) as the network sees it: turned so the trunk points up when
        `cfg.roll_invariant` (`upright_turn`), else unchanged. Also what the trainer's 2D prior judges.
        With `reference` (..., J, 2), one pose per window of x (..., W, J, 2), each window is turned by its
        reference's turn (the temporal lifter: every frame by the current frame's)."""
        if not self.cfg.roll_invariant:
            return x
        turn = upright_turn(x) if reference is None else upright_turn(reference)[..., None, :, :]
        return x @ turn.transpose(-1, -2)

    def depth(self, x: Tensor) -> Tensor:
        """Depth offsets (B, J) of normalised 2D joints x (B, J, 2)."""
        h = self.inp((self.upright(x) / self.cfg.root_neck).flatten(-2))
        return self.out(self.blocks(h))

    def forward(self, x: Tensor) -> Tensor:
        return lift_from_depth(x, self.depth(x), self.cfg.camera_distance, self.cfg.min_depth)

    def normalise(self, kp: Tensor) -> Tensor:
        """Pixels (..., J, 2) -> this lifter's normalised input (..., J, 2) (`normalise_2d` with its config)."""
        return normalise_2d(kp, self.cfg.root_neck, self.cfg.norm)[0]

    def lift_sequence(self, x: Tensor) -> Tensor:
        """Consecutive normalised frames (N, J, 2) of one subject -> (N, J, 3) lifter units, each frame seeing
        only itself and (for a `TemporalLifter`) its past."""
        return self(x)


class TemporalLifter(Lifter):
    """Causal temporal lifter: a window of W = cfg.window normalised frames of one subject (B, W, J, 2), the
    current frame last, -> the current frame's root-centred 3D (B, J, 3) in lifter units (camera axes).

    The same residual MLP on the flattened window, predicting the current frame's depth offsets only, so
    nothing after the current frame is seen. The last layer starts at zero: an untrained temporal lifter
    is the flat pose too.
    """

    def __init__(self, cfg: LifterConfig) -> None:
        super().__init__(cfg)
        self.inp = nn.Sequential(nn.Linear(2 * NUM_JOINTS * self.cfg.window, self.cfg.hidden), nn.LeakyReLU(0.2))

    def depth(self, x: Tensor) -> Tensor:
        """Depth offsets (B, J) of the current (last) frame of normalised windows x (B, W, J, 2); with
        `cfg.roll_invariant` every frame of a window is turned by the current frame's `upright_turn`."""
        h = self.inp((self.upright(x, x[..., -1, :, :]) / self.cfg.root_neck).flatten(-3))
        return self.out(self.blocks(h))

    def forward(self, x: Tensor) -> Tensor:
        return lift_from_depth(x[..., -1, :, :], self.depth(x), self.cfg.camera_distance, self.cfg.min_depth)

    def lift_sequence(self, x: Tensor) -> Tensor:
        return self(sequence_windows(x, self.cfg.window))


def sequence_windows(x: Tensor, window: int) -> Tensor:
    """(N, J, 2) consecutive frames -> (N, window, J, 2): frame i's window holds frames i - window + 1 .. i,
    those before the first frame replaced by the first frame (the start of a track)."""
    idx = (torch.arange(len(x))[:, None] + torch.arange(1 - window, 1)[None]).clamp_min(0)
    return x[idx]


class WindowLift(nn.Module):
    """A temporal lifter's live step as one stateless graph (also what `engines.onnx_export` exports).

    kp (B, J, 2) pixels (x=col, y=row): B consecutive frames of one subject; history (W - 1, J, 2) the
    subject's previous W - 1 frames in the same pixels, oldest first; start (1,) float: 1 for the first call
    of a track (history is then ignored and every earlier frame is taken to be kp[0]), else 0. Returns
    (B, J, 3) metres, root-relative, camera axes (`to_metric`), frame b lifted from its window of frames
    b - W + 1 .. b of cat(history, kp). Each frame is normalised by itself, so the history is kept in pixels
    (`KeypointHistory` keeps it between calls).
    """

    def __init__(self, lifter: TemporalLifter) -> None:
        super().__init__()
        self.lifter = lifter

    def forward(self, kp: Tensor, history: Tensor, start: Tensor) -> Tensor:
        w = self.lifter.cfg.window
        first = kp[:1].expand(w - 1, -1, -1)
        seq = torch.cat([torch.where(start.reshape(1, 1, 1) > 0.5, first, history), kp])  # (W - 1 + B, J, 2)
        x = self.lifter.normalise(seq)
        # window k-th frame of row b is x[b + k]: static slices, so any B exports and runs
        windows = torch.stack([x[k : k - (w - 1)] if k < w - 1 else x[w - 1 :] for k in range(w)], 1)
        return to_metric(self.lifter(windows), self.lifter.cfg.body_length_m)


class LiftStream(nn.Module):
    """A lifter fed one frame at a time, keeping the subject's recent history for a `TemporalLifter`.

    Rows of successive calls (B, J, 2) pixels (x=col, y=row) are consecutive frames of one subject; returns
    (B, J, 3) metres, root-relative, camera axes, like `KeypointLifter`. The first frame after `reset()`
    fills the whole window (a new track). With a per-frame lifter it is `KeypointLifter` row by row. The
    step is `WindowLift` with a `KeypointHistory`, the same graph and bookkeeping as the exported ONNX.
    """

    def __init__(self, lifter: Lifter) -> None:
        super().__init__()
        self.lifter = lifter
        self.step = WindowLift(lifter) if isinstance(lifter, TemporalLifter) else None
        self.history = KeypointHistory(max(lifter.cfg.window, 1))

    def reset(self) -> None:
        """Forget the history (the next frame starts a new track)."""
        self.history.reset()

    def forward(self, kp: Tensor) -> Tensor:
        if self.step is None:
            return to_metric(self.lifter(self.lifter.normalise(kp)), self.lifter.cfg.body_length_m)
        history, start = (torch.as_tensor(a, device=kp.device) for a in self.history.inputs())
        out = self.step(kp.float(), history, start)
        self.history.push(kp.detach().float().cpu().numpy())
        return out


class KeypointLifter(nn.Module):
    """Keypoints (B, J, 2) in any pixels (x=col, y=row) -> (B, J, 3) metres, root-relative, camera axes.

    normalise -> lift -> scale to the assumed body length. This is what backends append to the 2D model.
    """

    def __init__(self, lifter: Lifter) -> None:
        super().__init__()
        self.lifter = lifter

    def forward(self, kp: Tensor) -> Tensor:
        return to_metric(self.lifter(self.lifter.normalise(kp)), self.lifter.cfg.body_length_m)


# -- files --------------------------------------------------------------------------------------------
def save_lifter(lifter: Lifter, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `path` (.safetensors, metadata inside) and a JSON sidecar; returns the safetensors path."""

    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": dataclasses.asdict(lifter.cfg),
        **(extra or {}),
    }
    return write_weights(Path(path).with_suffix(".safetensors"), dict(lifter.state_dict()), meta)


def load_lifter(path: str | Path) -> Lifter:
    """Load a lifter file in eval mode (safetensors: no pickle). Raises InputError / ModelError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"lifter file {path} does not exist (train one with `tpt-live train-lifter`)")
    meta = read_meta(path, FORMAT, FORMAT_VERSION, "lifter")
    try:
        fields = {f.name for f in dataclasses.fields(LifterConfig)}
        older = {"norm": "root_neck", "roll_invariant": False}  # what files written before these options did
        config = older | {k: v for k, v in meta["config"].items() if k in fields}
        cfg = LifterConfig(**config)
        lifter = TemporalLifter(cfg) if cfg.window > 1 else Lifter(cfg)
        lifter.load_state_dict(load_file(str(path)))
    except (SafetensorError, OSError, RuntimeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot load the lifter ({exc})") from exc
    lifter.metadata = meta
    return lifter.eval()


def load_default_lifter(template: str | None = None) -> Lifter | None:
    """The shipped lifter for a model of `template` (`default_lifter_path`), or None when there is none."""
    path = default_lifter_path(template=template)
    return load_lifter(path) if path.is_file() else None

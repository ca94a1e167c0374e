"""Extra geometry of the "varied" look, in camera coordinates per frame: chubbier limbs, ears, and the
occluders (sleep sack and blanket domes, toys, an adult's hand, crib bars, a bouncer or car seat) as z-buffered
segments.
"""

from __future__ import annotations

import numpy as np

from tpt_live.skeleton import JOINT_INDEX
from tpt_live.synth.body import Capsule, Ellipsoid, Segment
from tpt_live.synth.camera import Camera
from tpt_live.synth.look import Look, Seat


def _domes(
    name: str,
    kp3d: np.ndarray,
    segs: dict[str, Segment],
    camera: Camera,
    top: float,
    factor: float,
    margin: float,
    split: bool,
    max_height: float = 1.0,
) -> list[Ellipsoid]:
    """Drapes over the legs (sleep sack, blanket): ellipsoids per frame resting on the mat.

    A dome's frame: its long axis is the trunk axis laid flat on the mat, its height axis world up; it is
    centred on the mat under the legs, `factor` x the legs' spread plus `margin` wide and long from `top`
    metres above the pelvis (along the trunk) to the feet, and as high as needed to cover every leg joint
    and foot by `margin`, but no higher than `max_height` (a flat blanket: a kicking knee may poke
    through). With `split`, one dome covers top to knees and another knees to feet (a bag that follows
    the kicks). The radii change per frame; they are folded into `rot` (columns scaled by 1 / k, k <= 1)
    so that the rasteriser's fixed `radii` (the largest over frames) bound every frame.
    """
    trunk = segs["trunk"]
    assert isinstance(trunk, Ellipsoid)
    n = len(kp3d)
    up = np.broadcast_to(camera.R[:, 2], (n, 3))  # world +z in camera coordinates
    axis = trunk.rot[:, :, 1] - (trunk.rot[:, :, 1] * up).sum(axis=1, keepdims=True) * up
    bad = np.linalg.norm(axis, axis=1) < 1e-6
    axis[bad] = trunk.rot[bad, :, 0]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    rot = np.stack([np.cross(axis, up), axis, up], axis=2)  # columns: lateral, long axis, height
    pelvis = kp3d[:, JOINT_INDEX["pelvis"]]
    origin = pelvis - ((pelvis - camera.t) * up).sum(axis=1, keepdims=True) * up  # pelvis dropped onto the mat
    feet = [segs[f"{s}_foot"] for s in ("l", "r")]
    hips = [kp3d[:, JOINT_INDEX[f"{s}_hip"]] for s in ("left", "right")]
    knees = [kp3d[:, JOINT_INDEX[f"{s}_knee"]] for s in ("left", "right")]
    lower = [kp3d[:, JOINT_INDEX[f"{s}_ankle"]] for s in ("left", "right")]
    lower += [f.c for f in feet if isinstance(f, Ellipsoid)]
    top_pt = pelvis + trunk.rot[:, :, 1] * top
    groups = [[top_pt, *hips, *knees], knees + lower] if split else [[top_pt, *hips, *knees, *lower]]
    out = []
    for g, pts in enumerate(groups):
        rel = np.einsum("fji,fpj->fpi", rot, np.stack(pts, axis=1) - origin[:, None])
        cx = 0.5 * (rel[..., 0].min(axis=1) + rel[..., 0].max(axis=1))
        rx = factor * np.abs(rel[..., 0] - cx[:, None]).max(axis=1) + margin
        y0, y1 = rel[..., 1].min(axis=1), rel[..., 1].max(axis=1)
        cy = 0.5 * (y0 + y1)
        ry = factor * 0.5 * (y1 - y0) + margin
        rem = 1.0 - ((rel[..., 0] - cx[:, None]) / rx[:, None]) ** 2 - ((rel[..., 1] - cy[:, None]) / ry[:, None]) ** 2
        rz = ((np.maximum(rel[..., 2], 0.0) + 0.03 + margin) / np.sqrt(np.maximum(rem, 0.08))).max(axis=1)
        rz = np.minimum(rz, max_height)
        radii_f = np.stack([rx, ry, rz], axis=1)
        radii = radii_f.max(axis=0)
        k = radii_f / radii
        centre = np.stack([cx, cy, np.zeros_like(cy)], axis=1)
        c = origin + np.einsum("fij,fj->fi", rot, centre)
        out.append(Ellipsoid(f"{name}:{g}", c, rot / k[:, None, :], radii))
    return out


def _chubby(seg: Segment, factor: float) -> Segment:
    if isinstance(seg, Capsule) and factor != 1.0:
        return Capsule(seg.name, seg.a, seg.b, seg.ra * factor, seg.rb * factor)
    return seg


def _ears(head: Ellipsoid) -> list[Segment]:
    out: list[Segment] = []
    rx, ry, rz = head.radii
    for sign, name in ((1.0, "l_ear"), (-1.0, "r_ear")):
        local = np.array([sign * 0.93 * rx, -0.1 * ry, -0.12 * rz])
        c = head.c + np.einsum("fij,j->fi", head.rot, local)
        out.append(Ellipsoid(name, c, head.rot, np.array([0.007, 0.02, 0.013]) * rx / 0.06))
    return out


def _world_frames(camera: Camera, pts: np.ndarray, n: int) -> np.ndarray:
    """World points (..., 3) -> camera (F, ..., 3) repeated over n frames."""
    cam = camera.to_camera(pts)
    return np.broadcast_to(cam, (n, *cam.shape)).copy()


def _toys(look: Look, camera: Camera, n: int) -> list[Segment]:
    out: list[Segment] = []
    eye = np.broadcast_to(camera.R, (n, 3, 3))
    for i, t in enumerate(look.toys):
        base = np.array([t.x, t.y, 0.0])
        d = np.array([np.cos(t.angle), np.sin(t.angle), 0.0])
        if t.kind == "ball":
            c = _world_frames(camera, base + [0, 0, t.size], n)
            out.append(Ellipsoid(f"toy:{i}", c, eye, np.full(3, t.size)))
        elif t.kind == "plush":
            r = t.size
            body = _world_frames(camera, base + [0, 0, 0.8 * r], n)
            head = _world_frames(camera, base + d * 1.3 * r + [0, 0, 0.8 * r], n)
            out.append(Ellipsoid(f"toy:{i}", body, eye, np.array([0.9, 0.9, 0.8]) * r))
            out.append(Ellipsoid(f"toy:{i}", head, eye, np.full(3, 0.6 * r)))
            perp = np.array([-d[1], d[0], 0.0])
            for s in (-1, 1):
                ear = _world_frames(camera, base + d * 1.6 * r + perp * s * 0.45 * r + [0, 0, 1.2 * r], n)
                out.append(Ellipsoid(f"toy:{i}b", ear, eye, np.full(3, 0.25 * r)))
        else:  # rattle: handle and a ball
            a = _world_frames(camera, base + [0, 0, 0.012], n)
            b = _world_frames(camera, base + d * 2.0 * t.size + [0, 0, 0.012], n)
            out.append(Capsule(f"toy:{i}b", a, b, 0.01, 0.01))
            c = _world_frames(camera, base + d * 2.6 * t.size + [0, 0, 0.6 * t.size], n)
            out.append(Ellipsoid(f"toy:{i}", c, eye, np.full(3, 0.6 * t.size)))
    return out


def _adult_hand(look: Look, camera: Camera, kp3d: np.ndarray, fps: float) -> list[Segment]:
    hand = look.hand
    assert hand is not None
    n = len(kp3d)
    target_cam = 0.5 * (kp3d[0, JOINT_INDEX["pelvis"]] + kp3d[0, JOINT_INDEX["thorax"]])
    target = camera.R.T @ (target_cam - camera.t)
    d = np.array([np.cos(hand.angle), np.sin(hand.angle), 0.0])
    perp = np.array([-d[1], d[0], 0.0])
    up = np.array([0.0, 0.0, 1.0])
    t = np.arange(n) / fps
    wave = (hand.wave * np.sin(2 * np.pi * t / hand.period))[:, None]
    palm = target[None] + d * (hand.reach + wave) + perp * hand.side + up * (hand.height - target[2])
    wrist = palm + d * 0.075 + up * 0.015
    elbow = wrist + d * 0.26 + up * 0.14

    def cam(p: np.ndarray) -> np.ndarray:
        out: np.ndarray = p @ camera.R.T + camera.t
        return out

    rot_w = np.stack([perp, -d, up], axis=1)  # columns: local x (across the palm), y (to the fingers), z (back)
    rot = np.broadcast_to(camera.R @ rot_w, (n, 3, 3)).copy()
    segs: list[Segment] = [
        Capsule("adult_hand:sleeve", cam(elbow), cam(wrist), 0.038, 0.03),
        Ellipsoid("adult_hand", cam(palm), rot, np.array([0.042, 0.05, 0.016])),
    ]
    for k, off in enumerate((-0.027, -0.009, 0.009, 0.027)):
        length = (0.07, 0.085, 0.08, 0.065)[k]
        base = palm - d * 0.04 + perp * off
        tip = base - d * length - up * 0.02
        segs.append(Capsule("adult_hand", cam(base), cam(tip), 0.0095, 0.008))
    side = 1.0 if hand.side >= 0 else -1.0
    base = palm + perp * side * 0.035 + d * 0.01
    segs.append(Capsule("adult_hand", cam(base), cam(base - d * 0.05 + perp * side * 0.03), 0.011, 0.009))
    return segs


def _bars(look: Look, camera: Camera, n: int) -> list[Segment]:
    bars = look.bars
    assert bars is not None
    z = bars.depth_frac * camera.distance
    half_x = z * (camera.width / 2) / camera.focal
    half_y = z * (camera.height / 2) / camera.focal
    direction = np.array([np.sin(bars.angle), np.cos(bars.angle), 0.0])
    across = np.array([np.cos(bars.angle), -np.sin(bars.angle), 0.0])
    length = 1.5 * max(half_x, half_y)
    out: list[Segment] = []
    edge = bars.side * half_x
    x = edge
    while abs(x - edge) < bars.band * 2 * half_x:
        centre = across * x + np.array([0.0, 0.0, z])
        a = np.broadcast_to(centre - direction * length, (n, 3)).copy()
        b = np.broadcast_to(centre + direction * length, (n, 3)).copy()
        out.append(Capsule("bars", a, b, bars.radius, bars.radius))
        x -= bars.side * bars.spacing
    return out


def _seat(seat: Seat, kp3d: np.ndarray, segs: dict[str, Segment]) -> list[Segment]:
    """A bouncer or car seat in the reclined trunk's frame (it rocks with the trunk): its back an ellipsoid behind the
    trunk and head, from below the buttocks to above the head; its sides (a car seat's padded wings beside the trunk
    and head, a bouncer's wire frame further out, down to the floor); a harness from the shoulders to the crotch.
    Its extent along the trunk is the clip's (lowest pelvis, highest head), so the seat keeps its size and place."""
    trunk, head = segs["trunk"], segs["head"]
    assert isinstance(trunk, Ellipsoid) and isinstance(head, Ellipsoid)
    lat, along, front = trunk.rot[:, :, 0], trunk.rot[:, :, 1], trunk.rot[:, :, 2]
    rx, _, rz = trunk.radii
    pelvis, thorax = kp3d[:, JOINT_INDEX["pelvis"]], kp3d[:, JOINT_INDEX["thorax"]]
    bottom = float(((pelvis - trunk.c) * along).sum(axis=1).min()) - 0.07
    top = float(((head.c - trunk.c) * along).sum(axis=1).max()) + head.radii[1] + 0.03
    half = 0.5 * (top - bottom)
    mid = trunk.c + along * 0.5 * (top + bottom)
    back = seat.depth + rz + 0.005  # the back's front surface just behind the trunk's
    radii = np.array([seat.width * rx, 1.25 * half, seat.depth])
    out: list[Segment] = [Ellipsoid("seat", mid - front * back, trunk.rot, radii)]
    if seat.kind == "car_seat":  # padded wings beside the trunk and head, standing forward of the back
        for sign in (1.0, -1.0):
            side = mid + lat * sign * seat.width * rx - front * 0.3 * rz
            out.append(Capsule("seat:frame", side - along * 0.8 * half, side + along * 0.9 * half, 0.035, 0.03))
    else:  # the wire frame: a tube along each side, and each tube's foot down behind the seat to the floor
        for sign in (1.0, -1.0):
            side = mid + lat * sign * (seat.width + 0.15) * rx - front * back
            a, b = side - along * 1.1 * half, side + along * 1.0 * half
            out.append(Capsule("seat:frame", a, b, 0.008, 0.008))
            out.append(Capsule("seat:frame", a, a - front * 0.25, 0.008, 0.008))
    crotch = pelvis + front * (0.8 * rz) - along * 0.03
    for sign in (1.0, -1.0):  # the harness: shoulder straps to a buckle between the legs
        shoulder = thorax + lat * sign * 0.4 * rx + front * (0.75 * rz) + along * 0.02
        chest = 0.5 * (thorax + pelvis) + lat * sign * 0.3 * rx + front * (1.05 * rz + 0.008)
        out.append(Capsule("seat:strap", shoulder, chest, 0.008, 0.008))
        out.append(Capsule("seat:strap", chest, crotch, 0.008, 0.008))
    return out


def look_segments(look: Look, camera: Camera, kp3d: np.ndarray, segments: list[Segment], fps: float) -> list[Segment]:
    """The posed body `segments` as `look` dresses them (chubbier limbs, ears) followed by its occluders.

    kp3d (F, J, 3) camera coordinates; the order of the returned segments is the rasteriser's.
    """
    by_name = {s.name: s for s in segments}
    segs: list[Segment] = [_chubby(s, look.chubby) if not s.name.endswith("hand") else s for s in segments]
    head = by_name["head"]
    assert isinstance(head, Ellipsoid)
    segs += _ears(head)
    if look.clothing == "sleep_sack":
        segs += _domes("sack", kp3d, by_name, camera, 0.14, 1.1, 0.035, split=True)
    if look.cover != "none":
        top = 0.0 if look.cover == "legs" else 0.08
        segs += _domes("cover", kp3d, by_name, camera, top, 1.7, 0.06, split=False, max_height=0.16)
    n = len(kp3d)
    segs += _toys(look, camera, n)
    if look.hand is not None:
        segs += _adult_hand(look, camera, kp3d, fps)
    if look.bars is not None:
        segs += _bars(look, camera, n)
    if look.seat is not None:
        segs += _seat(look.seat, kp3d, by_name)
    return segs

"""Vectorised z-buffer rasteriser for capsules and ellipsoids, Lambertian shading, joint visibility.

All geometry is in camera coordinates (x right, y down, z forward, metres). Pixels: x = column,
y = row, pixel centres at integer coordinates. Frames are rendered in batches: every segment is
rasterised for all frames of a batch at once, each frame in its own projected bounding box (all boxes
of a batch share one size), so numpy's per-call overhead is paid per segment and batch, not per frame:

- tapered capsule: project the axis end points, take per pixel the closest point on the projected
  axis (parameter t), interpolate the projected radius; depth = axis depth - r(t) * sqrt(1 - (d/r')^2)
  (the bulge), normal from the bulge (a sphere-swept approximation, exact for spheres);
- ellipsoid: exact ray/ellipsoid intersection in the ellipsoid's unit-sphere coordinates.

A per-pixel depth test (min over segments) resolves self-occlusion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tpt_live.skeleton import JOINT_NAMES
from tpt_live.synth.appearance import Appearance, cloth_albedo
from tpt_live.synth.body import JOINT_OWNERS, SEGMENT_INDEX, SEGMENT_NAMES, Capsule, Ellipsoid, Segment
from tpt_live.synth.camera import Camera

_EYES = np.array([[0.35, 0.12, 0.93], [-0.35, 0.12, 0.93]]) / np.linalg.norm([0.35, 0.12, 0.93])
_OWNER_IDS: tuple[frozenset[int], ...] = tuple(
    frozenset(SEGMENT_INDEX[s] for s in JOINT_OWNERS[name]) for name in JOINT_NAMES
)


@dataclass(frozen=True)
class Buffers:
    """Output of a batch of F rendered frames (before sensor noise)."""

    image: np.ndarray  # (F, H, W, 3) float32 RGB in [0, 1] (may slightly exceed 1 before clipping)
    depth: np.ndarray  # (F, H, W) float32 camera z of the front-most body surface, inf on background
    segment: np.ndarray  # (F, H, W) int8 index into SEGMENT_NAMES of that surface, -1 on background


def _material(name: str, app: Appearance) -> str:
    if name in ("trunk", "l_upper_arm", "r_upper_arm", "l_thigh", "r_thigh"):
        return "cloth"
    if name.endswith("forearm"):
        return "cloth" if app.long_sleeves else "skin"
    if name.endswith("shin"):
        return "cloth" if app.long_legs else "skin"
    if name.endswith("foot"):
        return "sock" if app.socks is not None else "skin"
    return "head" if name == "head" else "skin"


@dataclass(frozen=True)
class _Box:
    """Per-frame pixel boxes of one segment: pixel coordinates (F, 1, bw) and (F, bh, 1)."""

    px: np.ndarray  # (F, 1, bw) int64 columns
    py: np.ndarray  # (F, bh, 1) int64 rows
    valid: np.ndarray  # (F, bh, bw) bool: inside the image and the frame's own box


def _slice(seg: Segment, sl: slice) -> Segment:
    if isinstance(seg, Capsule):
        return Capsule(seg.name, seg.a[sl], seg.b[sl], seg.ra, seg.rb)
    return Ellipsoid(seg.name, seg.c[sl], seg.rot[sl], seg.radii)


class Renderer:
    """Renders posed segments over a static background for one camera and appearance."""

    def __init__(self, camera: Camera, appearance: Appearance, background: np.ndarray) -> None:
        """background: (H, W, 3) float32 shaded mat image (see `appearance.mat_texture`)."""
        self.camera = camera
        self.app = appearance
        self.background = background
        self.materials = {name: _material(name, appearance) for name in SEGMENT_NAMES}
        self.light = appearance.light_dir.astype(np.float32)
        k = camera.K
        self.f, self.cx, self.cy = float(k[0, 0]), float(k[0, 2]), float(k[1, 2])
        self._noise: np.ndarray | None = None  # (3, H + 16, W + 16, 3) sensor noise bank, 0-255 units

    def segment_id(self, name: str) -> int:
        """Index written to the segment buffer for segment `name` (see `SEGMENT_NAMES`)."""
        return SEGMENT_INDEX[name]

    # ----------------------------------------------------------------------------------------- shading
    def _shade(self, albedo: np.ndarray, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray) -> np.ndarray:
        lam = np.maximum(nx * self.light[0] + ny * self.light[1] + nz * self.light[2], 0.0)
        light = self.app.ambient + self.app.diffuse * lam
        out: np.ndarray = albedo * light[:, None] * self.app.tint
        return out

    def _albedo(self, name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        mat = self.materials[name]
        if mat == "cloth":
            return cloth_albedo(self.app, u, v)
        colour = self.app.socks if mat == "sock" and self.app.socks is not None else self.app.skin
        return np.broadcast_to(colour, (len(u), 3))

    def _head_albedo(self, q: np.ndarray) -> np.ndarray:
        """Skin with hair (top/back), eyes and mouth, from unit-sphere head coordinates q (N, 3)."""
        col = np.broadcast_to(self.app.skin, q.shape).copy()
        if self.app.hair_amount > 0.15:
            hair = 0.9 * q[:, 1] - 0.5 * q[:, 2] > 0.75 - 0.7 * self.app.hair_amount
            col[hair] = self.app.hair
        for eye in _EYES:
            col[((q - eye) ** 2).sum(axis=1) < 0.012] = (0.12, 0.08, 0.06)
        mouth = ((q - (0.0, -0.42, 0.9)) ** 2).sum(axis=1) < 0.008
        col[mouth] = self.app.skin * (0.8, 0.45, 0.45)
        return col

    # ------------------------------------------------------------------------------------ rasterising
    def _box(self, lo_x: np.ndarray, hi_x: np.ndarray, lo_y: np.ndarray, hi_y: np.ndarray, ok: np.ndarray) -> _Box:
        """Boxes from per-frame pixel bounds (F,); frames with `ok` False get no pixels."""
        w, h = self.camera.width, self.camera.height
        c0 = np.clip(np.floor(lo_x), 0, w - 1).astype(np.int64)
        c1 = np.clip(np.ceil(hi_x), -1, w - 1).astype(np.int64)
        r0 = np.clip(np.floor(lo_y), 0, h - 1).astype(np.int64)
        r1 = np.clip(np.ceil(hi_y), -1, h - 1).astype(np.int64)
        bw = int(max((c1 - c0 + 1).max(), 1))
        bh = int(max((r1 - r0 + 1).max(), 1))
        px = c0[:, None, None] + np.arange(bw)[None, None, :]
        py = r0[:, None, None] + np.arange(bh)[None, :, None]
        valid = (px <= c1[:, None, None]) & (py <= r1[:, None, None]) & ok[:, None, None]
        return _Box(px, py, valid)

    def _capsule(self, seg: Capsule, buf: Buffers) -> None:
        f = self.f
        za, zb = seg.a[:, 2], seg.b[:, 2]
        ok = np.minimum(za, zb) > 1e-3
        za_s, zb_s = np.where(ok, za, 1.0), np.where(ok, zb, 1.0)
        ax, ay = f * seg.a[:, 0] / za_s + self.cx, f * seg.a[:, 1] / za_s + self.cy
        bx, by = f * seg.b[:, 0] / zb_s + self.cx, f * seg.b[:, 1] / zb_s + self.cy
        ra, rb = f * seg.ra / za_s, f * seg.rb / zb_s
        box = self._box(
            np.minimum(ax - ra, bx - rb),
            np.maximum(ax + ra, bx + rb),
            np.minimum(ay - ra, by - rb),
            np.maximum(ay + ra, by + rb),
            ok,
        )
        e = (slice(None), None, None)
        f32 = np.float32
        px = (box.px - ax[e]).astype(f32)
        py = (box.py - ay[e]).astype(f32)
        vx, vy = (bx - ax).astype(f32)[e], (by - ay).astype(f32)[e]
        inv_l2 = (1.0 / np.maximum(vx * vx + vy * vy, f32(1e-9))).astype(f32)
        t = np.clip((px * vx + py * vy) * inv_l2, f32(0.0), f32(1.0))
        dx, dy = px - t * vx, py - t * vy
        r = ra.astype(f32)[e] + t * (rb - ra).astype(f32)[e]
        q = (dx * dx + dy * dy) / (r * r)
        inside = (q < 1.0) & box.valid
        fi, yi, xi = np.nonzero(inside)
        if len(fi) == 0:
            return
        flat = (fi * self.camera.height + box.py[fi, yi, 0]) * self.camera.width + box.px[fi, 0, xi]
        t_in, q_in = t[inside], q[inside]
        hgt = np.sqrt(1.0 - q_in)
        z = (za[fi] + t_in * (zb - za)[fi]) - (seg.ra + t_in * (seg.rb - seg.ra)) * hgt
        front = z < buf.depth.reshape(-1)[flat]
        if not front.any():
            return
        r_f = r[inside][front]
        dxf, dyf = dx[inside][front] / r_f, dy[inside][front] / r_f
        t_f, f_f = t_in[front], fi[front]
        length = np.linalg.norm(seg.b - seg.a, axis=1)[f_f]
        radius = seg.ra + t_f * (seg.rb - seg.ra)
        vxf, vyf, il = vx[f_f, 0, 0], vy[f_f, 0, 0], np.sqrt(inv_l2[f_f, 0, 0])
        across = (dxf * vyf - dyf * vxf) * il * radius
        colour = self._shade(self._albedo(seg.name, t_f * length, across), dxf, dyf, -hgt[front])
        self._write(buf, flat[front], z[front], colour, self.segment_id(seg.name))

    def _ellipsoid(self, seg: Ellipsoid, buf: Buffers) -> None:
        f, f32 = self.f, np.float32
        rmax = float(seg.radii.max())
        ok = seg.c[:, 2] - rmax > 1e-3
        zc = np.where(ok, seg.c[:, 2], 1.0)
        cx, cy = f * seg.c[:, 0] / zc + self.cx, f * seg.c[:, 1] / zc + self.cy
        rad = f * rmax / np.where(ok, zc - rmax, 1.0)
        box = self._box(cx - rad, cx + rad, cy - rad, cy + rad, ok)
        m = (np.swapaxes(seg.rot, 1, 2) / seg.radii[None, :, None]).astype(f32)  # camera -> unit sphere
        o = -np.einsum("fij,fj->fi", m, seg.c.astype(f32))
        xs = ((box.px - self.cx) / f).astype(f32)
        ys = ((box.py - self.cy) / f).astype(f32)
        e = (slice(None), None, None)
        d = [m[:, i, 0][e] * xs + m[:, i, 1][e] * ys + m[:, i, 2][e] for i in range(3)]
        a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        b = o[:, 0][e] * d[0] + o[:, 1][e] * d[1] + o[:, 2][e] * d[2]  # half of the usual B
        disc = b * b - a * ((o * o).sum(axis=1) - 1.0)[e]
        inside = (disc > 0.0) & box.valid
        fi, yi, xi = np.nonzero(inside)
        if len(fi) == 0:
            return
        flat = (fi * self.camera.height + box.py[fi, yi, 0]) * self.camera.width + box.px[fi, 0, xi]
        s = (-b[inside] - np.sqrt(disc[inside])) / a[inside]  # ray parameter = camera z (ray z = 1)
        front = s < buf.depth.reshape(-1)[flat]
        if not front.any():
            return
        s_f, f_f = s[front], fi[front]
        qs = np.stack([o[f_f, i] + s_f * d[i][inside][front] for i in range(3)], axis=1)
        normal = np.einsum("nij,nj->ni", seg.rot[f_f].astype(f32), qs / seg.radii.astype(f32))
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        if seg.name == "head":
            albedo = self._head_albedo(qs)
        else:
            albedo = self._albedo(seg.name, qs[:, 1] * seg.radii[1], qs[:, 0] * seg.radii[0])
        colour = self._shade(albedo, normal[:, 0], normal[:, 1], normal[:, 2])
        self._write(buf, flat[front], s_f, colour, self.segment_id(seg.name))

    @staticmethod
    def _write(buf: Buffers, flat: np.ndarray, z: np.ndarray, colour: np.ndarray, k: int) -> None:
        buf.depth.reshape(-1)[flat] = z
        buf.segment.reshape(-1)[flat] = k
        buf.image.reshape(-1, 3)[flat] = colour

    def buffers(self, n: int) -> Buffers:
        """Empty buffers for `n` frames: the background, no depth, no segment."""
        h, w = self.camera.height, self.camera.width
        return Buffers(
            image=np.repeat(self.background[None], n, axis=0),
            depth=np.full((n, h, w), np.inf, np.float32),
            segment=np.full((n, h, w), -1, np.int8),
        )

    def render(self, segments: list[Segment]) -> Buffers:
        """Rasterise segments (camera coordinates, each with F frames) over the background."""
        buf = self.buffers(len(segments[0].a) if isinstance(segments[0], Capsule) else len(segments[0].c))
        for seg in segments:
            if isinstance(seg, Capsule):
                self._capsule(seg, buf)
            else:
                self._ellipsoid(seg, buf)
        return buf

    def finish(self, image: np.ndarray, segment: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Contact shadow, blur and sensor noise for one frame: (H, W, 3) float32 -> uint8 RGB.

        The noise comes from a per-video bank of noise fields, read at a random offset per frame.
        """
        h, w = segment.shape
        if self._noise is None:
            bank = rng.standard_normal((3, h + 16, w + 16, 3), dtype=np.float32)
            self._noise = bank * np.float32(self.app.noise_std * 255.0)
        mask = segment >= 0
        sigma = 0.02 * h
        sx, sy = int(round(0.6 * sigma)), int(round(0.8 * sigma))
        shifted = np.zeros((h, w), np.float32)
        shifted[sy:, sx:] = mask[: h - sy, : w - sx]
        shadow = cv2.GaussianBlur(shifted, (0, 0), sigma)
        shadow[mask] = 0.0
        img = image * (255.0 - 89.0 * shadow)[..., None]
        if self.app.blur_sigma > 0.05:
            img = cv2.GaussianBlur(img, (0, 0), self.app.blur_sigma)
        k, dy, dx = rng.integers(0, 3), rng.integers(0, 17), rng.integers(0, 17)
        img += self._noise[k, dy : dy + h, dx : dx + w]
        out: np.ndarray = np.clip(img + 0.5, 0.0, 255.0, out=img).astype(np.uint8)
        return out

    def render_frames(
        self, segments: list[Segment], kp2d: np.ndarray, kp3d: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render all F frames in batches: images (F, H, W, 3) uint8 RGB and visibility (F, J) bool.

        kp2d: (F, J, 2) pixels; kp3d: (F, J, 3) camera coordinates of the joints.
        """
        n, h, w = len(kp2d), self.camera.height, self.camera.width
        batch = max(1, min(n, 1_500_000 // (h * w)))
        images = np.empty((n, h, w, 3), np.uint8)
        visible = np.empty(kp2d.shape[:2], bool)
        for start in range(0, n, batch):
            sl = slice(start, min(start + batch, n))
            buf = self.render([_slice(seg, sl) for seg in segments])
            visible[sl] = joint_visibility(kp2d[sl], kp3d[sl], buf)
            for i in range(len(buf.image)):
                images[sl.start + i] = self.finish(buf.image[i], buf.segment[i], rng)
        return images, visible


# Columns: segment ids 0..126 (ids past SEGMENT_NAMES are occluders that own no joint), last: background (-1).
_OWNER_TABLE = np.zeros((len(JOINT_NAMES), 128), bool)
for _j, _ids in enumerate(_OWNER_IDS):
    _OWNER_TABLE[_j, sorted(_ids)] = True


def joint_visibility(kp2d: np.ndarray, kp3d: np.ndarray, buf: Buffers, tol: float = 0.005) -> np.ndarray:
    """(F, J) bool: joint inside the frame and not hidden by a segment that does not own it.

    kp2d: (F, J, 2) pixels (x = col, y = row, centres at integers); kp3d: (F, J, 3) camera coordinates.
    At the joint's nearest pixel the front-most surface must belong to one of the joint's own
    segments (`body.JOINT_OWNERS`), or lie no more than `tol` metres in front of the joint (this also
    covers background pixels, depth inf).
    """
    n, h, w = buf.depth.shape
    cols, rows = np.round(kp2d[..., 0]).astype(np.int64), np.round(kp2d[..., 1]).astype(np.int64)
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h) & (kp3d[..., 2] > 0)
    fr = np.broadcast_to(np.arange(n)[:, None], cols.shape)
    cc, rr = np.clip(cols, 0, w - 1), np.clip(rows, 0, h - 1)
    seg = buf.segment[fr, rr, cc].astype(np.int64)  # -1 = background -> last column of the table
    own = _OWNER_TABLE[np.arange(kp2d.shape[1])[None, :], seg]
    in_front = buf.depth[fr, rr, cc] >= kp3d[..., 2] - tol
    out: np.ndarray = inside & (own | in_front)
    return out

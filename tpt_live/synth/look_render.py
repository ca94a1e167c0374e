"""Rendering of the "varied" look: materials, deferred smooth shading, photo-like camera effects.

`LookRenderer` reuses the rasteriser of `render.Renderer` (same capsules, ellipsoids, z-buffer and
`joint_visibility`) but writes albedo, normal and a skin weight per pixel and shades each frame
afterwards:

- normals are blurred inside the body (normalised convolution, about 7 mm) so segments join smoothly;
- wrap-around Lambert + ambient from the look's light, redder falloff on skin (subsurface look), a soft
  darkening towards silhouettes (limbs look round), a faint sheen on skin;
- screen-space ambient occlusion from the depth buffer with the mat's depth behind the body (contact
  shadows, creases where limbs lie on the trunk) and a soft cast shadow on the mat;
- then motion blur (previous frame blended in), optics blur, contrast / saturation / exposure,
  infrared greyscale, vignetting, signal-dependent sensor noise, JPEG blocks.

The occluders' geometry comes from `look_geometry`, fabrics and backgrounds from `look_textures`.

Pixels: x = column, y = row, centres at integers; geometry in camera coordinates (metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tpt_live.synth.appearance import Appearance
from tpt_live.synth.body import SEGMENT_INDEX, Segment
from tpt_live.synth.camera import Camera
from tpt_live.synth.look import Fabric, Look
from tpt_live.synth.look_geometry import look_segments
from tpt_live.synth.look_textures import fabric_albedo, look_background
from tpt_live.synth.render import Buffers, Renderer, _slice, joint_visibility

# Segment ids of the occluders (past the 14 body segments; they own no joint). Ears write the head's id.
OCCLUDER_IDS: dict[str, int] = {"sack": 14, "cover": 15, "toy": 16, "adult_hand": 17, "bars": 18, "seat": 19}
_EYES = np.array([[0.35, 0.12, 0.93], [-0.35, 0.12, 0.93]]) / np.linalg.norm([0.35, 0.12, 0.93])
_F32 = np.float32


@dataclass(frozen=True)
class LookBuffers(Buffers):
    """Buffers plus per-pixel normal (camera coordinates) and skin weight: extra (F, H, W, 4)."""

    extra: np.ndarray


class LookRenderer(Renderer):
    """Renders a "varied" look: the base rasteriser with deferred shading and camera effects."""

    def __init__(
        self,
        camera: Camera,
        appearance: Appearance,
        look: Look,
        background: np.ndarray,
        mat_depth: np.ndarray,
        fps: float,
        materials: dict[str, tuple[str, object]],
    ) -> None:
        super().__init__(camera, appearance, background)
        self.look = look
        self.mat_depth = mat_depth.astype(np.float32)
        self.fps = fps
        self.look_materials = materials
        self.wpp = camera.world_per_pixel()
        self._prev: np.ndarray | None = None
        h, w = camera.height, camera.width
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) / (0.25 * (w * w + h * h))
        strength = look.vignette + (0.35 if look.infrared else 0.0)
        self.vignette = (1.0 - strength * r2**1.2).astype(np.float32)

    # ------------------------------------------------------------------------------ base-class hooks
    def segment_id(self, name: str) -> int:
        """Body segments keep their ids, ears write the head's, occluders theirs (`OCCLUDER_IDS`)."""
        if name in SEGMENT_INDEX:
            return SEGMENT_INDEX[name]
        if name.endswith("_ear"):
            return SEGMENT_INDEX["head"]
        return OCCLUDER_IDS[name.split(":")[0]]

    def _shade(self, albedo: np.ndarray, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray) -> np.ndarray:
        """Deferred: pack albedo (N, 4: RGB + skin weight) and normal into (N, 7) for `_write`."""
        return np.concatenate([albedo, np.stack([nx, ny, nz], axis=1)], axis=1).astype(np.float32)

    def _write(self, buf: Buffers, flat: np.ndarray, z: np.ndarray, colour: np.ndarray, k: int) -> None:  # type: ignore[override]
        assert isinstance(buf, LookBuffers)
        buf.depth.reshape(-1)[flat] = z
        buf.segment.reshape(-1)[flat] = k
        buf.image.reshape(-1, 3)[flat] = colour[:, :3]
        buf.extra.reshape(-1, 4)[flat, :3] = colour[:, 4:7]
        buf.extra.reshape(-1, 4)[flat, 3] = colour[:, 3]

    def _albedo(self, name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        mats = self.look_materials
        kind, spec = mats.get(name) or mats.get(name.split(":")[0]) or ("skin", None)
        n = len(u)
        u32, v32 = u.astype(_F32), v.astype(_F32)
        if kind == "skin":
            skin = self.look.skin.astype(_F32)
            if name.endswith(("hand", "foot")):
                skin = skin * np.array([1.0, 0.92, 0.92], _F32)  # hands and feet run redder
            mottle = _F32(1.0) + _F32(0.03) * np.sin(u32 * 180.0) * np.sin(v32 * 150.0)
            rgb = skin[None] * mottle[:, None]
            return np.concatenate([rgb, np.ones((n, 1), _F32)], axis=1)
        if kind == "colour":
            assert isinstance(spec, np.ndarray)
            return np.concatenate([np.broadcast_to(spec.astype(_F32), (n, 3)), np.zeros((n, 1), _F32)], axis=1)
        if kind == "split":  # (fabric, limit m, above): garment where u < limit, skin beyond
            assert isinstance(spec, tuple)
            fab, limit = spec
            assert isinstance(fab, Fabric)
            cloth = fabric_albedo(fab, u32, v32)
            skin = self.look.skin.astype(_F32)
            on = (u32 < limit)[:, None]
            rgb = np.where(on, cloth, skin[None])
            return np.concatenate([rgb, (~on).astype(_F32)], axis=1)
        assert isinstance(spec, Fabric)
        rgb = fabric_albedo(spec, u32, v32)
        if kind == "drape":  # sleep sack or blanket: soft folds
            rgb = rgb * (_F32(0.9) + _F32(0.1) * np.sin(u32 * 70.0 + 3.0 * np.sin(v32 * 40.0)))[:, None]
        return np.concatenate([rgb, np.zeros((n, 1), _F32)], axis=1)

    def _head_albedo(self, q: np.ndarray) -> np.ndarray:
        """Skin, soft hair, closed or open eyes, cheeks and lips from unit-sphere head coordinates q (N, 3)."""
        look = self.look
        q = q.astype(_F32)
        skin = look.skin.astype(_F32)
        cheek = np.exp(-(((np.abs(q[:, 0]) - 0.5) ** 2 + (q[:, 1] + 0.25) ** 2) / 0.03)) * (q[:, 2] > 0.3)
        col = skin[None] * (1.0 - cheek[:, None] * np.array([0.0, 0.07, 0.07], _F32))
        skinw: np.ndarray = np.ones(len(q), _F32)
        if look.hair_amount > 0.05:
            edge = 0.9 * q[:, 1] - 0.5 * q[:, 2] - (0.8 - 0.75 * look.hair_amount)
            strands = 0.75 + 0.25 * np.sin(q[:, 0] * 60.0 + q[:, 1] * 20.0)
            a = np.clip(edge * 6.0, 0.0, 1.0) * strands * min(1.0, 0.4 + look.hair_amount)
            col = col * (1 - a[:, None]) + look.hair.astype(_F32)[None] * a[:, None]
            skinw = skinw * (1 - a)
        for eye in _EYES.astype(_F32):
            d = q - eye
            if look.eyes_closed:
                lid = (np.abs(d[:, 0]) < 0.12) & (np.abs(d[:, 1] + 3.0 * d[:, 0] ** 2) < 0.018)
                col[lid] = skin * 0.45
            else:
                r2 = (d**2).sum(axis=1)
                col[r2 < 0.016] = (0.93, 0.92, 0.9)
                col[r2 < 0.008] = (0.1, 0.07, 0.06)
        mouth = ((q[:, 0] / 1.6) ** 2 + (q[:, 1] + 0.42) ** 2 + (q[:, 2] - 0.9) ** 2) < 0.005
        col[mouth] = skin * np.array([0.85, 0.55, 0.55], _F32)
        return np.concatenate([col, skinw[:, None]], axis=1)

    # ------------------------------------------------------------------------------------- rendering
    def buffers(self, n: int) -> LookBuffers:
        """Empty albedo, normal, skin weight, depth and segment buffers for `n` frames (`render` fills them)."""
        base = super().buffers(n)
        h, w = self.camera.height, self.camera.width
        return LookBuffers(base.image, base.depth, base.segment, extra=np.zeros((n, h, w, 4), np.float32))

    def shade(self, albedo: np.ndarray, extra: np.ndarray, depth: np.ndarray, segment: np.ndarray) -> np.ndarray:
        """One frame: lit (H, W, 3) float32 in [0, 1]-ish from the deferred buffers.

        Only the box around the body (padded by the blur and shadow reach) is computed; outside it the
        background is already lit.
        """
        look = self.look
        mask_full = segment >= 0
        out = albedo.copy()
        rows, cols = np.nonzero(mask_full.any(axis=1))[0], np.nonzero(mask_full.any(axis=0))[0]
        if len(rows) == 0:
            return out
        light = look.light_dir.astype(_F32)
        sig_n, sig_ao, sig_sh = max(0.5, 0.007 / self.wpp), max(1.0, 0.03 / self.wpp), max(1.0, 0.025 / self.wpp)
        lift = 0.04 / self.wpp
        sx = int(round(-light[0] / max(-light[2], 0.3) * lift))
        sy = int(round(-light[1] / max(-light[2], 0.3) * lift))
        h, w = segment.shape
        pad = int(3 * max(sig_ao, sig_sh)) + max(abs(sx), abs(sy)) + 2
        r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)
        c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)
        box = (slice(r0, r1), slice(c0, c1))
        mask, alb, ext = mask_full[box], albedo[box], extra[box]
        m = mask.astype(_F32)
        mb = cv2.GaussianBlur(m, (0, 0), sig_n)
        nb = cv2.GaussianBlur(ext[..., :3] * m[..., None], (0, 0), sig_n)
        inv = _F32(0.65) / np.maximum(mb, _F32(1e-3))
        nx = 0.35 * ext[..., 0] + nb[..., 0] * inv
        ny = 0.35 * ext[..., 1] + nb[..., 1] * inv
        nz = 0.35 * ext[..., 2] + nb[..., 2] * inv
        norm = _F32(1.0) / np.maximum(np.sqrt(nx * nx + ny * ny + nz * nz), _F32(1e-6))
        nx, ny, nz = nx * norm, ny * norm, nz * norm
        skin = ext[..., 3]
        d = np.where(mask, depth[box], self.mat_depth[box])
        db = cv2.GaussianBlur(d, (0, 0), sig_ao)
        ao = _F32(1.0) - _F32(0.6) * np.clip((d - db) * _F32(1 / 0.03), _F32(0.0), _F32(1.0))
        ndl = nx * light[0] + ny * light[1] + nz * light[2]
        lam = np.clip((ndl + _F32(look.wrap)) * _F32(1.0 / (1.0 + look.wrap)), _F32(0.0), _F32(1.0))
        sss = skin * lam * (_F32(1.0) - lam) * _F32(look.diffuse)
        base = _F32(look.ambient) + _F32(look.diffuse) * lam
        facing = np.clip(-nz, _F32(0.0), _F32(1.0))
        shade = ao * (_F32(1.0) - _F32(look.rim) * (_F32(1.0) - facing) ** 2)
        half = light + np.array([0.0, 0.0, -1.0], _F32)
        half /= np.linalg.norm(half)
        nh = np.clip(nx * half[0] + ny * half[1] + nz * half[2], _F32(0.0), _F32(1.0))
        nh = nh * nh
        nh = nh * nh
        nh = nh * nh
        nh = nh * nh  # ^16
        spec = _F32(look.specular) * (_F32(0.3) + _F32(0.7) * skin) * nh
        tint = look.tint.astype(_F32)
        body = np.empty_like(alb)
        for c, k in enumerate((0.5, 0.05, -0.15)):  # skin: redder light where it turns away (subsurface)
            body[..., c] = (alb[..., c] * (base + _F32(k) * sss) * shade + spec) * tint[c]
        # soft cast shadow of the body on the mat, offset away from the light
        shifted = np.zeros_like(m)
        bh, bw = m.shape
        shifted[max(sy, 0) : bh + min(sy, 0), max(sx, 0) : bw + min(sx, 0)] = m[
            max(-sy, 0) : bh - max(sy, 0), max(-sx, 0) : bw - max(sx, 0)
        ]
        shadow = cv2.GaussianBlur(shifted, (0, 0), sig_sh)
        bg = alb * ((_F32(0.6) + _F32(0.4) * ao) * (_F32(1.0) - _F32(0.3) * shadow))[..., None]
        out[box] = np.where(mask[..., None], body, bg)
        return out

    def finish_look(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Camera effects for one lit frame (H, W, 3) float32 -> uint8 RGB."""
        look = self.look
        h, w = img.shape[:2]
        if look.motion_blur > 0 and self._prev is not None:
            cur = img
            img = (1.0 - look.motion_blur) * img + look.motion_blur * self._prev
            self._prev = cur
        else:
            self._prev = img
        sigma = look.blur_sigma * max(h, w) / 256.0
        if sigma > 0.2:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        # exposure, saturation and contrast in one affine map per pixel: c' = a * c + b * grey + offset
        sat, con = _F32(look.saturation), _F32(look.contrast)
        grey = img.mean(axis=-1, keepdims=True)
        img = (con * sat * _F32(look.exposure)) * img + (con * (1 - sat) * _F32(look.exposure)) * grey
        img += _F32(0.5 * (1.0 - look.contrast))
        if look.infrared:
            y = img @ np.array([0.5, 0.32, 0.18], _F32)
            y = np.clip(y, 0.0, None) ** 0.8 * 1.05
            img = np.repeat(y[..., None], 3, axis=-1)
        if self._noise is None:
            bank = rng.standard_normal((3, h + 16, w + 16, 3), dtype=np.float32)
            if look.infrared:
                bank[..., 1:] = bank[..., :1]
            self._noise = bank * _F32(look.noise_std)
        k, dy, dx = rng.integers(0, 3), rng.integers(0, 17), rng.integers(0, 17)
        img *= self.vignette[..., None]
        img += self._noise[k, dy : dy + h, dx : dx + w] * (_F32(0.6) + _F32(0.8) * img)  # more noise when bright
        img *= _F32(255.0)
        img += _F32(0.5)
        out: np.ndarray = np.clip(img, 0.0, 255.0, out=img).astype(np.uint8)
        if look.jpeg_quality > 0:
            bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
            ok, enc = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
            dec = cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else None
            if dec is not None:
                out = cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)
        return out

    def render_frames(
        self, segments: list[Segment], kp2d: np.ndarray, kp3d: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """All F frames in batches: images (F, H, W, 3) uint8 RGB and visibility (F, J) bool."""
        n, h, w = len(kp2d), self.camera.height, self.camera.width
        batch = max(1, min(n, 1_000_000 // (h * w)))
        images = np.empty((n, h, w, 3), np.uint8)
        visible = np.empty(kp2d.shape[:2], bool)
        for start in range(0, n, batch):
            sl = slice(start, min(start + batch, n))
            buf = self.render([_slice(seg, sl) for seg in segments])
            assert isinstance(buf, LookBuffers)
            visible[sl] = joint_visibility(kp2d[sl], kp3d[sl], buf)
            for i in range(len(buf.image)):
                lit = self.shade(buf.image[i], buf.extra[i], buf.depth[i], buf.segment[i])
                images[sl.start + i] = self.finish_look(lit, rng)
        return images, visible


# ------------------------------------------------------------------------------------------ materials
def _materials(look: Look) -> dict[str, tuple[str, object]]:
    """Material of each segment name: ("skin"|"colour"|"fabric"|"split"|"drape", spec)."""
    fab, c = look.fabric, look.clothing
    mats: dict[str, tuple[str, object]] = {"l_ear": ("skin", None), "r_ear": ("skin", None)}
    sleeve = fab if c in ("onesie", "bodysuit") else look.under
    for s in ("l", "r"):
        if c == "onesie":
            mats[f"{s}_upper_arm"] = ("fabric", fab)
            mats[f"{s}_forearm"] = ("fabric", fab) if look.long_sleeves else ("skin", None)
            mats[f"{s}_thigh"] = ("fabric", fab)
            mats[f"{s}_shin"] = ("fabric", fab) if look.long_legs else ("skin", None)
            footed = look.long_legs and look.footed
            mats[f"{s}_foot"] = (
                ("fabric", fab) if footed else ("colour", look.socks) if look.socks is not None else ("skin", None)
            )
        elif c == "bodysuit":
            mats[f"{s}_upper_arm"] = ("split", (sleeve, 0.045)) if not look.long_sleeves else ("fabric", fab)
            mats[f"{s}_forearm"] = ("fabric", fab) if look.long_sleeves else ("skin", None)
            mats[f"{s}_thigh"] = ("split", (fab, 0.025))
        elif c == "diaper":
            mats[f"{s}_thigh"] = ("split", (fab, 0.03))
        else:  # sleep sack over a onesie with long or short sleeves
            mats[f"{s}_upper_arm"] = ("fabric", sleeve) if look.long_sleeves or look.long_legs else ("skin", None)
            mats[f"{s}_forearm"] = ("fabric", sleeve) if look.long_sleeves else ("skin", None)
            for part in ("thigh", "shin", "foot"):
                mats[f"{s}_{part}"] = ("drape", fab)
    if c in ("onesie", "bodysuit"):
        mats["trunk"] = ("fabric", fab)
    elif c == "diaper":
        mats["trunk"] = ("split", (fab, -0.045))
    else:
        mats["trunk"] = ("drape", fab)
    mats["sack"] = ("drape", fab)
    mats["cover"] = ("drape", look.cover_fabric)
    for i, toy in enumerate(look.toys):
        mats[f"toy:{i}"] = ("colour", toy.colour)
        mats[f"toy:{i}b"] = ("colour", toy.colour2)
    if look.hand is not None:
        mats["adult_hand"] = ("colour", look.hand.skin)
        mats["adult_hand:sleeve"] = ("colour", look.hand.sleeve if look.hand.sleeve is not None else look.hand.skin)
    if look.bars is not None:
        mats["bars"] = ("colour", look.bars.colour)
    if look.seat is not None:
        mats["seat"] = ("fabric", look.seat.fabric)
        mats["seat:frame"] = ("colour", look.seat.frame)
        mats["seat:strap"] = ("colour", look.seat.strap)
    for name, fabric in (look.random_fabrics or {}).items():  # the "random" look: every segment its own fabric
        mats[name] = ("fabric", fabric)
    return mats


def render_look(
    look: Look,
    appearance: Appearance,
    camera: Camera,
    kp2d: np.ndarray,
    kp3d: np.ndarray,
    segments: list[Segment],
    fps: float,
    rng: np.random.Generator,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render posed body segments with `look`: images (F, H, W, 3) uint8 and visibility (F, J) bool.

    kp2d (F, J, 2) pixels, kp3d (F, J, 3) camera coordinates; `background` (H, W, 3) float32 replaces the
    look's own (the mat depth is still the look's camera's).
    """
    bg, mat_depth = look_background(look, camera, rng)
    if background is not None:
        bg = background
    segs = look_segments(look, camera, kp3d, segments, fps)
    renderer = LookRenderer(camera, appearance, look, bg, mat_depth, fps, _materials(look))
    return renderer.render_frames(segs, kp2d, kp3d, rng)

"""A room wall behind the mat, for cameras that look across the room rather than down at the mat.

The `room` world (docs/SYNTH.md) films the infant from overhead to nearly level; a low camera sees past the
mat, so the picture needs something there. The wall is a vertical plane `distance` metres beyond the body's
place on the mat (the world origin), facing the camera; it carries a painted wall with furniture against it,
perhaps a window and a picture, drawn in wall coordinates (metres) so that perspective is right. Pixels whose
ray meets the wall before the mat show the wall.

Conventions as in `camera`: world z up from the mat, camera rays `[x/z, y/z, 1] @ R` in world directions.
"""

from __future__ import annotations

import numpy as np

from tpt_live.synth.camera import Camera

_WALLS = np.array([(236, 232, 222), (225, 214, 196), (205, 210, 214), (214, 226, 236), (240, 222, 218)]) / 255.0
_FURNITURE = np.array([(150, 104, 66), (92, 64, 44), (238, 236, 232), (120, 120, 126), (196, 160, 118)]) / 255.0


def wall_hits(camera: Camera, distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel (H, W): whether the ray meets the wall before the mat, its camera z there, and the wall
    coordinates (u along the wall, v height above the mat), metres. Pixels off the wall have z = inf."""
    rays = camera.world_rays()
    pos = camera.position
    az = np.radians(camera.params.azimuth_deg)
    away = np.array([-np.cos(az), -np.sin(az), 0.0])  # horizontal direction from the camera past the body
    along = np.array([-away[1], away[0], 0.0])
    facing = rays @ away
    s_wall = np.where(facing > 1e-9, (distance - pos @ away) / np.maximum(facing, 1e-9), np.inf)
    s_mat = np.where(rays[..., 2] < -1e-9, -pos[2] / np.minimum(rays[..., 2], -1e-9), np.inf)
    hit = (s_wall > 0) & (s_wall < s_mat)
    z = np.where(hit, s_wall, np.inf)
    point = pos + np.where(hit, s_wall, 0.0)[..., None] * rays
    return hit, z, point @ along, point[..., 2]


def _box(u: np.ndarray, v: np.ndarray, u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)


def wall_image(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    """(H, W, 3) float32 albedo of the wall at wall coordinates u, v (metres), drawn from `seed`."""
    rng = np.random.default_rng([seed, 1])
    base = _WALLS[rng.integers(len(_WALLS))] * rng.uniform(0.8, 1.05)
    img = np.broadcast_to(base, (*u.shape, 3)).astype(np.float32).copy()
    img *= (1.0 + 0.04 * np.sin(u * rng.uniform(1, 3) + v * rng.uniform(1, 3)))[..., None]
    if rng.random() < 0.7:  # a bed frame or a sofa along the wall: a band from the floor
        top = rng.uniform(0.15, 0.6)
        img[_box(u, v, -9.0, 9.0, -1.0, top)] = _FURNITURE[rng.integers(len(_FURNITURE))]
        img[_box(u, v, -9.0, 9.0, top - 0.02, top)] *= 0.7
    for _ in range(rng.integers(0, 4)):  # cupboards, chests, baskets
        cu, wd, ht = rng.uniform(-2.0, 2.0), rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.3)
        colour = _FURNITURE[rng.integers(len(_FURNITURE))] * rng.uniform(0.8, 1.1)
        img[_box(u, v, cu - wd / 2, cu + wd / 2, -1.0, ht)] = colour
        img[_box(u, v, cu - wd / 2, cu + wd / 2, ht - 0.03, ht)] = colour * 0.6
        img[_box(u, v, cu - 0.01, cu + 0.01, 0.05, ht - 0.05)] = colour * 0.7  # door gap
    if rng.random() < 0.5:  # a window, bright, in a frame
        cu, wd, lo = rng.uniform(-1.5, 1.5), rng.uniform(0.5, 1.4), rng.uniform(0.8, 1.2)
        hi = lo + rng.uniform(0.6, 1.0)
        img[_box(u, v, cu - wd / 2 - 0.05, cu + wd / 2 + 0.05, lo - 0.05, hi + 0.05)] = 0.95
        img[_box(u, v, cu - wd / 2, cu + wd / 2, lo, hi)] = rng.uniform(0.9, 1.0, 3) * 1.15
    if rng.random() < 0.4:  # a picture: dark frame around a print
        cu, wd, lo = rng.uniform(-1.5, 1.5), rng.uniform(0.2, 0.5), rng.uniform(1.0, 1.5)
        img[_box(u, v, cu - wd / 2, cu + wd / 2, lo, lo + 0.8 * wd)] = rng.uniform(0.1, 0.35, 3)
        img[_box(u, v, cu - wd / 2 + 0.03, cu + wd / 2 - 0.03, lo + 0.03, lo + 0.8 * wd - 0.03)] = rng.uniform(
            0.3, 0.9, 3
        )
    return np.clip(img * (1.0 - 0.06 * np.clip(v, 0.0, 2.5))[..., None], 0.0, 1.3).astype(np.float32)


def add_wall(background: np.ndarray, depth: np.ndarray | None, camera: Camera, light: float | np.ndarray) -> None:
    """Paint the camera's wall (if it has one) into `background` (H, W, 3) in place, lit by `light`, and
    its camera z into `depth` (H, W) when given; `light` is a gain, one value or one per channel."""
    wall = camera.params.wall
    if wall is None:
        return
    distance, seed = wall
    hit, z, u, v = wall_hits(camera, distance)
    if not hit.any():
        return
    background[hit] = (wall_image(u, v, seed) * np.asarray(light, np.float32))[hit]
    if depth is not None:
        depth[hit] = z[hit]

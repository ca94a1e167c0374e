"""Pinhole camera above the mat, placed so that the infant fills a chosen fraction of the frame.

Conventions:
- World frame (metres): the mat is the plane z = 0, +z points up towards the camera side; +y is the
  direction of the infant's head before its rotation on the mat, +x its left when supine.
- Camera frame: x right, y down, z forward (OpenCV). `X_cam = R @ X_world + t`.
- Pixels: x = column, y = row, pixel centres at integer coordinates, so the principal point of a
  W x H image is ((W - 1) / 2, (H - 1) / 2). `u = K @ X_cam / z`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class CameraParams:
    """Free parameters of the camera of one video (sampled by `sample_camera_params`)."""

    fov_deg: float = 50.0  # vertical field of view
    frame_fraction: float = 0.725  # body length (head top to feet, neutral pose) / image height
    tilt_deg: float = 0.0  # angle between the optical axis and straight down
    azimuth_deg: float = 0.0  # direction (in the mat plane, from +x towards +y) the camera leans away to
    roll_deg: float = 0.0  # in-plane turn of the picture: the head points this many degrees clockwise from up
    offset: tuple[float, float] = (0.0, 0.0)  # body midpoint from the image centre, fractions of (W, H)
    gravity_up: bool = False  # picture "up" from gravity (a camera looking across the room), not the head
    wall: tuple[float, int] | None = None  # (metres beyond the body, texture seed) of a wall (`backdrop`)


@dataclass(frozen=True)
class Camera:
    """Intrinsics and extrinsics of a static pinhole camera (see module conventions)."""

    width: int  # image width in pixels
    height: int  # image height in pixels
    K: np.ndarray  # (3, 3) intrinsics, fx = fy, principal point at the image centre
    R: np.ndarray  # (3, 3) rotation world -> camera
    t: np.ndarray  # (3,) translation world -> camera
    params: CameraParams  # the parameters it was built from
    distance: float  # metres from the camera centre to the framing target along the optical axis

    @property
    def focal(self) -> float:
        """Focal length in pixels."""
        return float(self.K[0, 0])

    @property
    def position(self) -> np.ndarray:
        """(3,) camera centre in world coordinates."""
        return -self.R.T @ self.t

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World (..., 3) -> camera (..., 3) coordinates, metres."""
        out: np.ndarray = points @ self.R.T + self.t
        return out

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Camera coordinates (..., 3), z > 0 -> pixels (..., 2), x = col, y = row, centres at integers."""
        uvw = points_cam @ self.K.T
        out: np.ndarray = uvw[..., :2] / uvw[..., 2:3]
        return out

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ray slopes (x / z, y / z), each (H, W) float32, for rays through pixel centres."""
        cols = (np.arange(self.width, dtype=np.float64) - self.K[0, 2]) / self.K[0, 0]
        rows = (np.arange(self.height, dtype=np.float64) - self.K[1, 2]) / self.K[1, 1]
        xs, ys = np.meshgrid(cols, rows)
        return xs.astype(np.float32), ys.astype(np.float32)

    def world_rays(self) -> np.ndarray:
        """(H, W, 3) float64 world directions of the rays through pixel centres, scaled so that their camera
        z is 1 (a point at ray parameter s lies at camera depth s)."""
        xs, ys = self.pixel_rays()
        out: np.ndarray = np.stack([xs, ys, np.ones_like(xs)], axis=-1).astype(np.float64) @ self.R
        return out

    def world_per_pixel(self) -> float:
        """Metres on the framing target plane covered by one pixel."""
        return self.distance / self.focal

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description (rounded to 4 decimals; K to 6 significant places)."""
        return {
            "K": [[round(float(v), 4) for v in row] for row in self.K],
            "R": [[round(float(v), 6) for v in row] for row in self.R],
            "t": [round(float(v), 6) for v in self.t],
            "position": [round(float(v), 4) for v in self.position],
            "fov_deg": round(self.params.fov_deg, 3),
            "tilt_deg": round(self.params.tilt_deg, 3),
            "azimuth_deg": round(self.params.azimuth_deg, 3),
            "frame_fraction": round(self.params.frame_fraction, 4),
            "roll_deg": round(self.params.roll_deg, 3),
            "offset": [round(v, 4) for v in self.params.offset],
            **({"gravity_up": True} if self.params.gravity_up else {}),
            **({} if self.params.wall is None else {"wall_m": round(self.params.wall[0], 3)}),
            "convention": "X_cam = R @ X_world + t; camera x right, y down, z forward; "
            "world z up from the mat (z = 0); pixels x = col, y = row, centres at integers",
        }


def sample_camera_params(rng: np.random.Generator) -> CameraParams:
    """Mostly overhead: tilt 0-35 deg (skewed towards 0), FOV 35-65 deg, body 65-80% of the height."""
    return CameraParams(
        fov_deg=float(rng.uniform(35.0, 65.0)),
        frame_fraction=float(rng.uniform(0.65, 0.8)),
        tilt_deg=float(35.0 * rng.uniform(0.0, 1.0) ** 1.5),
        azimuth_deg=float(rng.uniform(0.0, 360.0)),
    )


WORLDS = ("default", "wide", "room")


def sample_wide_params(rng: np.random.Generator, base: CameraParams) -> CameraParams:
    """The wide world on top of `base`: any in-plane turn, the body 15-90% of the height (log-uniform),
    its midpoint anywhere that keeps most of the body in the picture."""
    fraction = float(np.exp(rng.uniform(np.log(0.15), np.log(0.9))))
    room = max(0.5 - 0.4 * fraction, 0.0)  # up to about a tenth of the body may leave the frame
    return replace(
        base,
        frame_fraction=fraction,
        roll_deg=float(rng.uniform(0.0, 360.0)),
        offset=(float(rng.uniform(-room, room)), float(rng.uniform(-room, room))),
    )


def sample_room_params(rng: np.random.Generator, wide: CameraParams) -> CameraParams:
    """The room world on top of a wide-world camera: a third of the cameras keep the overhead view, the
    rest look across the room (tilt 30-75 deg, the picture upright to gravity within a few degrees, so the
    body lies at any angle in it as the azimuth goes round); a wall 0.6-2.5 m beyond the body."""
    wall = (float(rng.uniform(0.6, 2.5)), int(rng.integers(2**31)))
    if rng.random() < 1.0 / 3.0:
        return replace(wide, wall=wall)
    tilt = float(rng.uniform(30.0, 75.0))
    return replace(wide, tilt_deg=tilt, gravity_up=True, roll_deg=float(rng.normal(0.0, 5.0)), wall=wall)


def intrinsics(width: int, height: int, fov_deg: float) -> np.ndarray:
    """(3, 3) K with square pixels, vertical FOV `fov_deg`, principal point ((W-1)/2, (H-1)/2)."""
    f = 0.5 * height / np.tan(np.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def build_camera(width: int, height: int, params: CameraParams, body_length: float, target: np.ndarray) -> Camera:
    """Place the camera so that `body_length` metres at `target` (3,) span `frame_fraction` of H.

    The image "up" is world +y projected into the image, so the head (at +y) is at the top (with
    `gravity_up`, world +z: the far side of the room is at the top); `roll_deg`
    then turns the picture about the optical axis (the head points `roll_deg` clockwise from up) and
    `offset` moves the camera parallel to the image plane so that `target` lands at
    (centre + offset * (W, H)) pixels.
    """
    K = intrinsics(width, height, params.fov_deg)
    distance = K[1, 1] * body_length / (params.frame_fraction * height)
    tilt, az = np.radians(params.tilt_deg), np.radians(params.azimuth_deg)
    back = np.array([np.sin(tilt) * np.cos(az), np.sin(tilt) * np.sin(az), np.cos(tilt)])
    centre = target + distance * back
    z_c = -back
    down = np.array([0.0, 0.0, -1.0]) if params.gravity_up else np.array([0.0, -1.0, 0.0])
    y_c = down - (down @ z_c) * z_c
    y_c /= np.linalg.norm(y_c)
    x_c = np.cross(y_c, z_c)
    roll = np.radians(params.roll_deg)
    x_c, y_c = np.cos(roll) * x_c - np.sin(roll) * y_c, np.sin(roll) * x_c + np.cos(roll) * y_c
    ox, oy = params.offset
    centre = centre - (ox * width * x_c + oy * height * y_c) * distance / K[0, 0]
    R = np.stack([x_c, y_c, z_c])
    return Camera(width, height, K, R, -R @ centre, params, float(distance))

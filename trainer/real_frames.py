"""Real frames with no infant in them: backgrounds behind synthetic infants, and negatives, for the presence CNN.

Synthetic negatives (drawn mats, procedural textures) do not teach a net that an adult's shirt or a furnished
room is not an infant: measured on real clips, such regions were reported present (docs/MONITOR.md). Real
footage that holds no infant (a user's empty crib or room, adults, the BSD clips of development) fixes the
negatives; the same frames also go behind synthetic infants, so that "looks like a photograph" is not a cue
for "absent".

Images: (H, W, 3) uint8 RGB as decoded, (H, W, 3) float32 in [0, 1] as renderer backgrounds.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tpt_live.errors import InputError
from tpt_live.videoio import IMAGE_SUFFIXES, photo_files, read_image, upright


def _video_frames(path: Path, per_video: int, max_side: int) -> list[np.ndarray]:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count = stream.frames or 0
            stride = max(1, count // per_video) if count else 5
            out = [
                _shrink(upright(frame), max_side) for i, frame in enumerate(container.decode(stream)) if i % stride == 0
            ]
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise InputError(f"cannot read frames from {path} ({exc}): give videos or folders of images") from exc
    return out[:per_video]


def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


class RealFrames:
    """Frames of videos (or photos, alone or in folders) known to hold no infant: of each video every k-th frame
    (k = frame count // `per_video`, at least 1; 5 when the count is unknown), the first `per_video` of them;
    their longer side shrunk to `max_side`."""

    def __init__(self, paths: list[str] | tuple[str, ...], per_video: int = 60, max_side: int = 480) -> None:
        self.frames: list[np.ndarray] = []
        for name in paths:
            path = Path(name)
            images = photo_files(path)  # a folder's photos or one photo (HEIC too), as shown
            if images is not None:
                for p in images:
                    bgr = read_image(p)
                    if bgr is None:
                        raise InputError(f"cannot read image {p}: remove it or convert it to PNG/JPEG")
                    self.frames.append(_shrink(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side))
                if not images:
                    raise InputError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            elif path.is_file():
                self.frames.extend(_video_frames(path, per_video, max_side))
            else:
                raise InputError(f"background footage {path} does not exist")
        if not self.frames:
            raise InputError("no frames in the background footage given")

    def pick(self, rng: np.random.Generator) -> np.ndarray:
        """One frame (H, W, 3) uint8 RGB, mirrored half of the time."""
        frame = self.frames[int(rng.integers(len(self.frames)))]
        return frame[:, ::-1] if rng.random() < 0.5 else frame

    def background(self, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
        """(height, width, 3) float32 in [0, 1]: a window of a frame with the requested aspect, covering 30-100%
        of the frame's shorter side, resized."""
        frame = self.pick(rng)
        fh, fw = frame.shape[:2]
        scale = rng.uniform(0.3, 1.0) * min(fw / width, fh / height)
        cw, ch = max(2, int(width * scale)), max(2, int(height * scale))
        x0, y0 = int(rng.integers(0, fw - cw + 1)), int(rng.integers(0, fh - ch + 1))
        window = frame[y0 : y0 + ch, x0 : x0 + cw]
        interp = cv2.INTER_AREA if cw > width else cv2.INTER_LINEAR
        out: np.ndarray = cv2.resize(window, (width, height), interpolation=interp).astype(np.float32) / 255.0
        return out


def check_real_share(share: float) -> None:
    """InputError unless `share` (of scenes drawn over real frames) is between 0 and 1."""
    if not 0.0 <= share <= 1.0:
        raise InputError(f"--real-share {share}: use a share between 0 and 1")


def real_backdrop(
    real: RealFrames | None, share: float, width: int, height: int, rng: np.random.Generator
) -> np.ndarray | None:
    """With probability `share`, a window of a real frame as a scene's (height, width, 3) background (see
    `RealFrames.background`); None for the scene's own. Without `real` nothing is drawn from `rng`, so sets
    made without real frames stay as they were."""
    if real is None or rng.random() >= share:
        return None
    return real.background(width, height, rng)


def recipe_names(recipe: dict) -> dict:
    """A training recipe with its `backgrounds` paths cut to their file names, for a model's sidecar: the
    footage stays the user's, and a file written on one machine names no folder of another."""
    if recipe.get("backgrounds"):
        return {**recipe, "backgrounds": [Path(p).name for p in recipe["backgrounds"]]}
    return recipe


def check_counts(config: object, names: tuple[str, ...]) -> None:
    """InputError naming the settings of `config` among `names` that are below 1 (as options: --val-clips)."""
    low = [f"--{n.replace('_', '-')} {getattr(config, n)}" for n in names if getattr(config, n) < 1]
    if low:
        raise InputError(f"{', '.join(low)}: must be 1 or more")

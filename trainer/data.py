"""Frame pairs from unlabelled video: two frames of one scene, same crop window, flipped together.

Frames are decoded once, letterboxed into the model input in the decoder (swscale; one scale for both
axes, as `tpt-live track` does) or cut to the square box around a ROI, and kept in memory as uint8
(optionally cached on disk), so that training is never decode-bound.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tpt_live.crop import CropBox, crop_resize, square_box
from tpt_live.errors import InputError, SourceError
from tpt_live.videoio import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image_folder, read_video

log = logging.getLogger(__name__)


def decode_video(path: Path, size: int, roi: CropBox | None = None) -> np.ndarray:
    """All frames of a video as (N, size, size, 3) uint8 RGB, letterboxed or cut to the square around `roi`.

    Without a ROI the decoder letterboxes the whole frame (`tpt_live.crop.letterbox`, swscale, area); with
    one, `tpt_live.crop.crop_resize` cuts the square box around it (black outside the frame), as the
    tracker does with `--roi`.
    """
    if roi is None:
        frames = list(read_video(path, size))
    else:
        frames = [crop_resize(f, square_box(roi), size) for f in read_video(path)]
    if not frames:
        raise SourceError(f"{path} holds no decodable frames")
    return np.stack(frames)


def load_image_folder(path: Path, size: int, roi: CropBox | None = None) -> np.ndarray:
    """Images of one folder (one scene) as (N, size, size, 3) uint8 RGB, sorted by name (as `decode_video`)."""
    if roi is None:
        return np.stack(list(read_image_folder(path, size)))
    return np.stack([crop_resize(img, square_box(roi), size) for img in read_image_folder(path)])


def find_scenes(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand arguments into scenes: video files, and folders of videos or of images (one scene)."""
    scenes: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            scenes.append(p)
        elif p.is_dir():
            videos = sorted(q for q in p.iterdir() if q.suffix.lower() in VIDEO_SUFFIXES)
            if videos:
                scenes.extend(videos)
            elif any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir()):
                scenes.append(p)
            else:
                raise InputError(f"{p} holds neither videos nor images")
        else:
            raise InputError(f"{p} is not a video file ({', '.join(sorted(VIDEO_SUFFIXES))}) or a folder")
    return scenes


class PairSampler:
    """Random frame pairs of the same scene, as float tensors in [0, 1].

    Every scene is held as (N, 3, S, S) uint8. `sample` draws scenes in proportion to their frame
    counts, two distinct frames per scene, and flips both frames of a pair horizontally with p=0.5.
    """

    def __init__(self, scenes: list[np.ndarray], seed: int = 0, flip: bool = True) -> None:
        usable = [s for s in scenes if len(s) >= 2]
        if not usable:
            raise InputError("training needs at least one scene with two or more frames")
        self.scenes = [torch.from_numpy(np.ascontiguousarray(s.transpose(0, 3, 1, 2))) for s in usable]
        counts = np.array([len(s) for s in usable], np.float64)
        self.weights = torch.from_numpy(counts / counts.sum())
        self.gen = torch.Generator().manual_seed(seed)
        self.flip = flip

    @property
    def num_frames(self) -> int:
        return sum(len(s) for s in self.scenes)

    def sample(self, batch: int) -> tuple[Tensor, Tensor]:
        """(pose frames, appearance frames), each (B, 3, S, S) float32 in [0, 1]."""
        which = torch.multinomial(self.weights, batch, replacement=True, generator=self.gen)
        pose, app = [], []
        for s in which.tolist():
            n = len(self.scenes[s])
            i = int(torch.randint(n, (1,), generator=self.gen))
            j = (i + 1 + int(torch.randint(n - 1, (1,), generator=self.gen))) % n
            pose.append(self.scenes[s][i])
            app.append(self.scenes[s][j])
        x = torch.stack(pose).float().div_(255)
        y = torch.stack(app).float().div_(255)
        if self.flip:
            mask = torch.rand(batch, generator=self.gen) < 0.5
            x[mask] = x[mask].flip(-1)
            y[mask] = y[mask].flip(-1)
        return x, y


def load_scenes(
    inputs: Sequence[str | Path], size: int, roi: CropBox | None = None, cache_dir: Path | None = None
) -> list[np.ndarray]:
    """Decode every scene once (cached as .npy under `cache_dir` by path, mtime, size and roi)."""
    out = []
    for scene in find_scenes(inputs):
        key = f"{scene.resolve()}|{scene.stat().st_mtime_ns}|{size}|{roi}|letterbox"
        cached = cache_dir / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".npy") if cache_dir else None
        if cached is not None and cached.exists():
            frames = np.asarray(np.load(cached), np.uint8)
        else:
            frames = decode_video(scene, size, roi) if scene.is_file() else load_image_folder(scene, size, roi)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.save(cached, frames)
        log.info("scene %s: %d frames", scene.name, len(frames))
        out.append(frames)
    return out

"""A clip (or a folder of photos) as a night-vision camera would show it: greyscale, optionally with sensor noise.

    python scripts/grey_clip.py CLIP.mp4 --out CLIP_grey.mp4 [--noise 6] [--seed 0]
    python scripts/grey_clip.py PHOTOS/ --out PHOTOS_grey/        # every image; other files copied as they are

Every frame becomes the mean of its three channels (the same grey in R, G and B), plus Gaussian noise of
`--noise` grey levels per pixel (0: none), re-encoded at the clip's own frame rate (H.264, crf 18,
`tpt_live.videoio.write_video`). The frames keep their size and their order, so keypoints labelled on the
colour clip (a peer's, docs/EVALUATION.md) score the greyscale one too. A folder's photos are written under
the same names (a COCO file beside them, copied, then scores the greyscale photos).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np

from tpt_live.errors import TptError
from tpt_live.videoio import HEIF_SUFFIXES, IMAGE_SUFFIXES, transcode


def grey(frame: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 (RGB or BGR: the mean does not care) -> the same size in grey, with `noise` grey levels
    of Gaussian noise."""
    level = frame.astype(np.float32).mean(-1, keepdims=True)
    if noise > 0:
        level = level + rng.normal(0.0, noise, level.shape)
    return np.repeat(np.clip(np.rint(level), 0, 255).astype(np.uint8), 3, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--noise", type=float, default=0.0, help="std of the per-pixel noise, grey levels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.clip.is_dir():
        heif = [f for f in sorted(args.clip.iterdir()) if f.suffix.lower() in HEIF_SUFFIXES]
        if heif:  # OpenCV writes no HEIF: the copy would need a new name; refused before anything is written
            raise SystemExit(f"{heif[0]}: HEIF photos cannot be written back; convert the folder to JPEG first")
        args.out.mkdir(parents=True, exist_ok=True)
        for file in sorted(args.clip.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:  # the images tpt-live reads (a COCO file's photos)
                image = cv2.imread(str(file), cv2.IMREAD_COLOR)
                if image is None:
                    raise SystemExit(f"{file}: not a readable image")
                cv2.imwrite(str(args.out / file.name), grey(image, args.noise, rng))
            elif file.is_file():
                shutil.copy(file, args.out / file.name)
        print(f"{args.out}: greyscale copies of {args.clip}")
        return
    if args.clip.suffix.lower() in HEIF_SUFFIXES:
        raise SystemExit(f"{args.clip}: HEIF photos cannot be written back; convert it to JPEG first")
    try:
        transcode(args.clip, args.out, lambda f: grey(f, args.noise, rng))  # streamed: long clips fit in memory
    except TptError as exc:
        raise SystemExit(str(exc)) from None
    print(f"{args.out}: greyscale copy of {args.clip}")


if __name__ == "__main__":
    main()

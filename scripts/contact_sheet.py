"""Write a PNG contact sheet of evenly spaced frames of a video (e.g. a `track --save-video` overlay).

    python scripts/contact_sheet.py overlay.mp4 docs/img/predictions.png --frames 8 --cols 4
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from tpt_live.videoio import read_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("out")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--cols", type=int, default=4)
    args = parser.parse_args()
    frames = list(read_video(args.video))
    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, args.frames).astype(int)]
    rows = [np.concatenate(picks[i : i + args.cols], 1) for i in range(0, len(picks), args.cols)]
    cv2.imwrite(args.out, cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()

"""Split a video in time: the first fraction for training, the rest held out for tracking.

    python scripts/split_clip.py CLIP.mp4 --at 0.7 --out DIR    # DIR/CLIP_first70.mp4, DIR/CLIP_last30.mp4

Frames are re-encoded (H.264, crf 18, `tpt_live.videoio.write_video`) at the clip's own frame rate; the
first part holds frames 0 .. round(at x N) - 1, the second the rest, so no frame is in both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tpt_live.videoio import read_video, video_fps, write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--at", type=float, default=0.7, help="fraction of the frames in the first part")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    frames = list(read_video(args.clip))
    cut = round(args.at * len(frames))
    fps = video_fps(args.clip) or 30.0
    height, width = frames[0].shape[:2]
    args.out.mkdir(parents=True, exist_ok=True)
    first = round(args.at * 100)
    for name, part in ((f"first{first}", frames[:cut]), (f"last{100 - first}", frames[cut:])):
        path = args.out / f"{args.clip.stem}_{name}.mp4"
        write_video(path, part, fps, (width, height))
        print(f"{path}: {len(part)} frames at {fps:g} fps")


if __name__ == "__main__":
    main()

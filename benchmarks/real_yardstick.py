"""The real-footage yardstick of issue 11 in one command: clips, greyscale clips, frames as photos, a summary.

    .venv/bin/python benchmarks/real_yardstick.py CLIP.mp4 [CLIP2.mp4 ...] --out DIR \\
        [--model FILE] [--localiser FILE] [--track-arg ARG ...] [--peer-python /work/venv_peer/bin/python]

What it runs (each step's files stay in DIR; the peer's keypoints are reused when DIR already holds them):
1. `peer_agreement.py run` on every clip: MediaPipe Pose (its own venv, never a dependency; see
   peer_agreement.py), `tpt-live track`, the agreement (PCK@0.2 on the peer's confident frames) and a sheet;
2. the same on each clip in greyscale (`scripts/grey_clip.py`, as a night-vision camera films), scored against the
   peer's keypoints of the colour clip, frame for frame;
3. every 8th frame of the clips as photos (`peer_photos.py`), in colour and in greyscale, through
   `tpt-live evaluate PEOPLE.json --locate`: the whole photo (`located`), a box around the infant (`box_located`)
   and a perfect localiser (`axis`);
4. DIR/summary.json and a printed table, the figures of the README's "At a glance" real-footage rows.

`--model` and `--localiser` go to both `track` and `evaluate`; `--track-arg` to `track` only. The clips of
../shared/data/infant_dev may not be shipped: nothing this writes belongs in the repository (docs/EVALUATION.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEER_AGREEMENT = HERE / "peer_agreement.py"
PEER_PHOTOS = HERE / "peer_photos.py"
GREY_CLIP = HERE.parent / "scripts" / "grey_clip.py"


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def clips_agreement(clips: list[Path], out: Path, args: argparse.Namespace, peers: dict[str, Path] | None) -> dict:
    """`peer_agreement.py run` on `clips` into `out`; with `peers`, each clip is scored against those keypoints."""
    out.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        if peers is not None:  # `run` reuses a peer.json it finds: the colour clip's keypoints label the grey one
            (out / clip.stem).mkdir(exist_ok=True)
            shutil.copyfile(peers[clip.stem], out / clip.stem / "peer.json")
    cmd = [sys.executable, str(PEER_AGREEMENT), "run", *map(str, clips), "--out", str(out)]
    cmd += ["--peer-python", args.peer_python] + (["--model", args.model] if args.model else [])
    for a in _track_args(args):
        cmd += [f"--track-arg={a}"]
    _run(cmd)
    return {c.stem: json.loads((out / c.stem / "agreement.json").read_text())["pck@0.2"] for c in clips}


def _track_args(args: argparse.Namespace) -> list[str]:
    return (["--localiser", args.localiser] if args.localiser else []) + list(args.track_arg)


def photos_pck(people: Path, out: Path, args: argparse.Namespace) -> dict:
    """`tpt-live evaluate PEOPLE.json --locate` -> PCK@0.2 of the located, box-then-located and axis protocols."""
    cmd = [sys.executable, "-m", "tpt_live", "evaluate", str(people), "--locate", "--json", str(out)]
    cmd += (["--model", args.model] if args.model else []) + (["--localiser", args.localiser] if args.localiser else [])
    _run(cmd)
    protocols = json.loads(out.read_text())["protocols"]
    return {k: protocols[k]["pck@0.2"] for k in ("located", "box_located", "axis")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model", default=None, help="2D model (default: the shipped one)")
    p.add_argument("--localiser", default=None, help="localiser (default: the shipped one)")
    p.add_argument("--track-arg", action="append", default=[], help="extra `tpt-live track` argument (repeat)")
    p.add_argument("--peer-python", default="/work/venv_peer/bin/python", help="python of the peer's venv")
    p.add_argument("--every", type=int, default=8, help="one photo per this many frames")
    args = p.parse_args()
    missing = [str(c) for c in args.clips if not c.is_file()]
    if missing:
        p.error(f"no such clip: {', '.join(missing)}")
    if len({c.stem for c in args.clips}) != len(args.clips):
        p.error("clips need distinct names")
    out: Path = args.out
    colour = clips_agreement(args.clips, out / "clips", args, None)
    peers = {c.stem: out / "clips" / c.stem / "peer.json" for c in args.clips}
    (out / "grey_src").mkdir(parents=True, exist_ok=True)
    greys = []
    for clip in args.clips:
        grey = out / "grey_src" / f"{clip.stem}.mp4"
        if not grey.is_file():
            _run([sys.executable, str(GREY_CLIP), str(clip), "--out", str(grey)])
        greys.append(grey)
    grey = clips_agreement(greys, out / "grey_clips", args, peers)
    photos = out / "photos"
    if not (photos / "people.json").is_file():
        pairs = [str(v) for c in args.clips for v in (c, peers[c.stem])]
        _run([sys.executable, str(PEER_PHOTOS), *pairs, "--out", str(photos), "--every", str(args.every)])
    grey_photos = out / "grey_photos"
    if not (grey_photos / "people.json").is_file():
        _run([sys.executable, str(GREY_CLIP), f"{photos}/", "--out", f"{grey_photos}/"])
    summary = {
        "clips": colour,
        "clips_mean": sum(colour.values()) / len(colour),
        "grey_clips": grey,
        "grey_clips_mean": sum(grey.values()) / len(grey),
        "photos": photos_pck(photos / "people.json", out / "photos.json", args),
        "grey_photos": photos_pck(grey_photos / "people.json", out / "grey_photos.json", args),
        "model": args.model,
        "localiser": args.localiser,
        "track_args": args.track_arg,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

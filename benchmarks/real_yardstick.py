"""The real-footage yardstick of issue 11 in one command: clips, greyscale clips, frames as photos, a summary.

    .venv/bin/python benchmarks/real_yardstick.py CLIP.mp4 [CLIP2.mp4 ...] --out DIR \\
        [--model FILE] [--localiser FILE] [--track-arg ARG ...] [--peer-python /work/venv_peer/bin/python]

What it runs (each step's files stay in DIR; run again into the same DIR, it reuses the peer's keypoints, the
greyscale clips and the photo sets that an earlier run finished, and refuses a DIR made from other clips or another
`--every`):
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

from peer_agreement import DEFAULT_PEER_PYTHON

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
    return {c.stem: json.loads((out / c.stem / "agreement.json").read_text()).get("pck@0.2") for c in clips}


def _mean(values: dict) -> float | None:
    known = [v for v in values.values() if v is not None]  # a clip where the peer was never confident has none
    return sum(known) / len(known) if known else None


def _made(folder: Path, make: list[str]) -> None:
    """Run `make` (which writes `folder`) unless an earlier run finished it (a marker beside the folder, so that
    copying the folder's files elsewhere never copies it)."""
    marker = folder.with_name(f".{folder.name}.complete")
    if not marker.is_file():
        _run(make)
        marker.write_text("")


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
    p.add_argument("--peer-python", default=DEFAULT_PEER_PYTHON, help="python of the peer's venv")
    p.add_argument("--every", type=int, default=8, help="one photo per this many frames")
    args = p.parse_args()
    missing = [str(c) for c in args.clips if not c.is_file()]
    if missing:
        p.error(f"no such clip: {', '.join(missing)}")
    if len({c.stem for c in args.clips}) != len(args.clips):
        p.error("clips need distinct names")
    if args.every < 1:
        p.error("--every must be 1 or more")
    out: Path = args.out
    peers = {c.stem: out / "clips" / c.stem / "peer.json" for c in args.clips}
    if not all(f.is_file() for f in peers.values()) and not Path(args.peer_python).is_file():
        p.error(f"no peer python at {args.peer_python}: make the peer's venv (peer_agreement.py) or give --peer-python")
    inputs = {"clips": [str(c.resolve()) for c in args.clips], "every": args.every}
    stamp = out / "inputs.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != inputs:
        p.error(f"{out} holds a run of other clips or another --every: pick a new --out")
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(inputs, indent=1) + "\n")
    colour = clips_agreement(args.clips, out / "clips", args, None)
    (out / "grey_src").mkdir(exist_ok=True)
    greys = [out / "grey_src" / f"{clip.stem}.mp4" for clip in args.clips]
    for clip, grey_clip in zip(args.clips, greys, strict=True):
        if not grey_clip.is_file():  # written aside, then renamed: an interrupted run leaves no half clip to reuse
            part = grey_clip.with_name(f"{clip.stem}.partial.mp4")
            _run([sys.executable, str(GREY_CLIP), str(clip), "--out", str(part)])
            part.replace(grey_clip)
    grey = clips_agreement(greys, out / "grey_clips", args, peers)
    photos, grey_photos = out / "photos", out / "grey_photos"
    pairs = [str(v) for c in args.clips for v in (c, peers[c.stem])]
    _made(photos, [sys.executable, str(PEER_PHOTOS), *pairs, "--out", str(photos), "--every", str(args.every)])
    _made(grey_photos, [sys.executable, str(GREY_CLIP), f"{photos}/", "--out", f"{grey_photos}/"])
    summary = {
        "clips": colour,
        "clips_mean": _mean(colour),
        "grey_clips": grey,
        "grey_clips_mean": _mean(grey),
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

"""Presence accuracy on held-out synthetic scenario clips, through the real decode path (H.264 -> decoder crop).

Usage:
  python benchmarks/presence_eval.py [--train] [--weights PATH] [--seeds 7 8 9] [--clips 6] [--frames 100]

--train first fits the CNN on training seeds (default 1000, 300 clips; see trainer.presence_train) and
writes the weights (default: the shipped file). The evaluation renders `--clips` clips per scenario and
seed (active, absent, leave_return, still, roll; mixed postures; 64x64, 96x64 and 64x48 frames), encodes
them as H.264, decodes them with `tpt_live.track.sources.VideoSource` at model input S = 64 as `tpt-live
monitor` does, and compares the per-frame presence (raw, and averaged over 1 s of stream time) with the
ground truth `present`. Prints one table and a JSON line.

--monitor VIEW runs each clip through the monitor session instead (`tpt_live.monitor.setup.open_session`, the
shipped pose model and localiser, `tpt-live monitor CLIP --presence-view VIEW`), so the presence net also sees
the pose model's window around the baby with VIEW `both`; raw is the per-frame combined probability >= 0.5,
averaged the monitor's own present/absent state.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from tpt_live.monitor.presence import (  # noqa: E402
    PresenceConfig,
    PresenceDetector,
    PresenceEnsemble,
    default_presence_path,
    load_presence,
    save_presence,
)
from tpt_live.synth import SynthConfig, write_clip  # noqa: E402
from tpt_live.synth.scenarios import MONITOR_SCENARIOS, render_scenario  # noqa: E402
from tpt_live.track.sources import SourceSpec, VideoSource  # noqa: E402

SHAPES = ((64, 64), (96, 64), (64, 48))


def held_out_clips(seeds: list[int], clips: int, frames: int) -> Iterator[tuple[str, dict, Path]]:
    """(scenario, ground truth, H.264 video) of `clips` clips per scenario and seed, written to a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for scenario in MONITOR_SCENARIOS:
                for i in range(clips):
                    w, h = SHAPES[i % len(SHAPES)]
                    cfg = SynthConfig(width=w, height=h, frames=frames, fps=10.0, seed=seed, index=i, pose="mixed")
                    clip = render_scenario(cfg, scenario)
                    video, _ = write_clip(clip, Path(tmp))
                    yield scenario, clip.gt, video


def detector_rows(video: Path, net: PresenceEnsemble, size: int, mirror: bool) -> list[tuple[float, bool]]:
    """(raw probability, present state) per decoded frame of the bare detector on the decoder's S x S input."""
    detector = PresenceDetector(net, PresenceConfig(mirror=mirror))
    out = []
    for frame in VideoSource(SourceSpec(str(video), "file", video.stem), size).frames():
        assert frame.net is not None
        raw, avg = detector.update(frame.net, frame.t)
        out.append((raw, detector.present(avg)))
    return out


def evaluate(
    weights: Path,
    seeds: list[int],
    clips: int,
    frames: int,
    size: int,
    view: str | None = None,
    mirror: bool = PresenceConfig.mirror,
) -> dict:
    """Presence accuracy on the held-out clips: the bare detector, or with `view` the whole monitor; `mirror`:
    `PresenceConfig.mirror`."""
    net = load_presence(weights)
    rows: dict[str, list[tuple[bool, bool, bool]]] = {s: [] for s in MONITOR_SCENARIOS}
    for scenario, gt, video in held_out_clips(seeds, clips, frames):
        got = (
            monitor_rows(video, weights, view, video.parent / "out", mirror)
            if view
            else detector_rows(video, net, size, mirror)
        )
        for (raw, state), truth in zip(got, gt["frames"], strict=True):
            rows[scenario].append((truth["present"], raw >= 0.5, state))
    about = {"weights": str(weights), "seeds": seeds, "clips_per_scenario_and_seed": clips, "frames": frames}
    return summarise(rows, {**about, "monitor_view": view} if view else about)


def summarise(rows: dict[str, list[tuple[bool, bool, bool]]], out: dict) -> dict:
    """Accuracy per scenario and overall of (truth, raw >= 0.5, averaged state) rows, added to `out`."""
    every = [r for v in rows.values() for r in v]
    for name, sel in (("all", every), *rows.items()):
        a = np.array(sel, bool)
        out[name] = {
            "frames": len(a),
            "present_frames": int(a[:, 0].sum()),
            "raw_accuracy": round(float((a[:, 0] == a[:, 1]).mean()), 4),
            "averaged_accuracy": round(float((a[:, 0] == a[:, 2]).mean()), 4),
        }
    a = np.array(every, bool)
    for label, mask in (("present", a[:, 0]), ("absent", ~a[:, 0])):
        out["all"][f"raw_accuracy_{label}"] = round(float((a[mask, 0] == a[mask, 1]).mean()), 4)
        out["all"][f"averaged_accuracy_{label}"] = round(float((a[mask, 0] == a[mask, 2]).mean()), 4)
    return out


def monitor_rows(video: Path, weights: Path, view: str, out: Path, mirror: bool) -> list[tuple[float, bool]]:
    """(raw probability, present state) per decoded frame of one `tpt-live monitor` run over `video`."""
    import engines
    from tpt_live.monitor.setup import MonitorRequest, open_session

    states: list[dict] = []
    req = MonitorRequest(
        src=str(video), out=out, backend="onnxruntime", presence=weights, presence_view=view, presence_mirror=mirror
    )
    with open_session(req, engines.open_backend, None, states.append) as session:
        session.run()
    return [(s["presence_raw"], bool(s["present"])) for s in sorted(states, key=lambda s: s["frame"])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", action="store_true", help="fit the CNN first and write --weights")
    p.add_argument("--weights", type=Path, default=default_presence_path())
    p.add_argument("--train-clips", type=int, default=800)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    p.add_argument("--clips", type=int, default=6, help="clips per scenario and seed")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--monitor", choices=("both", "frame"), default=None, help="run the monitor, --presence-view VIEW")
    p.add_argument("--no-presence-mirror", action="store_true", help="judge each view as it is only (no mirror)")
    args = p.parse_args()
    print("command:", " ".join(sys.argv), flush=True)
    if args.train:
        import torch

        from trainer.presence_train import PresenceTrainConfig, train_presence

        torch.set_num_threads(1)
        start = time.perf_counter()
        cfg = PresenceTrainConfig(clips=args.train_clips, epochs=args.epochs, size=args.size)
        net = train_presence(cfg, on_log=lambda row: print(row, flush=True))
        print(f"trained in {time.perf_counter() - start:.0f} s", flush=True)
        save_presence(net, args.weights)
    result = evaluate(
        args.weights, args.seeds, args.clips, args.frames, args.size, args.monitor, not args.no_presence_mirror
    )
    if args.train:  # record the held-out figures in the weights file itself
        net = load_presence(args.weights)
        metrics = {**net.metrics, "held_out": result["all"], "seeds": args.seeds}
        save_presence(dataclasses.replace(net, metrics=metrics), args.weights)  # keeps the temperature
    print(f"{'scenario':14s} {'frames':>7s} {'present':>8s} {'raw acc':>8s} {'avg acc':>8s}")
    for name in ("all", *MONITOR_SCENARIOS):
        r = result[name]
        acc = f"{r['raw_accuracy']:8.4f} {r['averaged_accuracy']:8.4f}"
        print(f"{name:14s} {r['frames']:7d} {r['present_frames']:8d} {acc}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

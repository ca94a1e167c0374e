"""Train one lifter variant over several seeds on keypoint-only clips and score it on others (docs/LIFTING.md).

    python scripts/mocap_seeds.py runs/mocap/limits '{"views": "upright", "w_limits": 10}' \
        --train runs/mocap_dev/train --val runs/mocap_dev/val --seeds 0 1 2 >> runs/mocap/results.jsonl

The JSON holds `LifterTrainConfig` fields plus `LifterConfig` fields (hidden, blocks, dropout, camera_distance,
norm, body_length_m, window: `"window": 9` is `train-lifter --window 9`); the rest are the `tpt-live
train-lifter` defaults (with `"views": "upright"`: window 9 and body_length_m 1.65, as the command).
`--score LIFTER... --val DIR...` only scores existing lifter files (one line per file and folder).
`--train` takes several folders (e.g. the mix split plus the soccer clip). Folders are `tpt-live mocap` output.
Prints one JSON line per seed (P-MPJPE without reflection, mm, ground-truth 2D input: overall `p`, the flat
floor `flat`, their ratio, `flip` the fraction of frames whose depth mirror scores better, and `per_clip`
{motion: [p, flat]} with the views of a motion pooled) and a last line with the mean and the standard
deviation over the seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from tpt_live.evaluation.evaluate3d import KeypointClip, evaluate_3d, load_keypoint_clips, report_clips
from tpt_live.lifter import Lifter, LifterConfig, load_lifter
from trainer.lifter_train import LifterTrainConfig, load_sequences, train_lifter


def score(lifter: Lifter, clips: list[KeypointClip]) -> dict:
    """P-MPJPE figures of one lifter on keypoint-only clips, overall and per motion (its views pooled)."""
    r = report_clips(clips, lifter, None)
    per_clip = {}
    motion = {c.name: re.sub(r"_az\d+_el[+-]\d+$", "", c.name) for c in clips}
    for m in sorted(set(motion.values())):
        mine = [c for c in clips if motion[c.name] == m]
        kp2d, kp3d = np.concatenate([c.kp2d for c in mine]), np.concatenate([c.kp3d for c in mine])
        e = evaluate_3d(kp2d, kp3d, lifter, lengths=[len(c.kp2d) for c in mine])
        per_clip[m] = [round(e["p_mpjpe_mm"], 1), round(e["flat_p_mpjpe_mm"], 1)]
    return {"p": round(r["p_mpjpe_mm"], 1), "flat": round(r["flat_p_mpjpe_mm"], 1),
            "ratio": round(r["p_mpjpe_mm"] / r["flat_p_mpjpe_mm"], 3), "n": round(r["n_mpjpe_mm"], 1),
            "flip": round(r["depth_flip_better_frac"], 3), "per_clip": per_clip}  # fmt: skip


def score_files(paths: list[str], folders: list[str]) -> None:
    """`--score`: one JSON line per lifter file and keypoint-only folder, nothing trained."""
    for folder in folders:
        clips = load_keypoint_clips(folder)
        for path in paths:
            print(json.dumps({"lifter": path, "val": folder, **score(load_lifter(path), clips)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", help="folder for the runs (one sub-folder per seed)")
    ap.add_argument("options", nargs="?", help="JSON object of training and network options")
    ap.add_argument("--train", nargs="+", help="pose files or folders to train on")
    ap.add_argument("--val", nargs="+", required=True, help="keypoint-only folder(s) to score on (training: one)")
    ap.add_argument("--score", nargs="+", metavar="LIFTER", help="only score these lifter files on every --val")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.score:
        return score_files(args.score, args.val)
    given = json.loads(args.options)
    net_fields = {f.name for f in dataclasses.fields(LifterConfig)}
    net = {k: v for k, v in given.items() if k in net_fields}
    train = {k: v for k, v in given.items() if k not in net_fields}
    if "body_length_m" not in net and train.get("views") == "upright":
        from tpt_live.lifter import ADULT_BODY_LENGTH_M

        net["body_length_m"] = ADULT_BODY_LENGTH_M  # as `tpt-live train-lifter --views upright`
    if "window" not in net and train.get("views") == "upright" and not train.get("supervised"):
        from tpt_live.lifter import UPRIGHT_WINDOW

        net["window"] = UPRIGHT_WINDOW  # as `tpt-live train-lifter --views upright` (W = 9)
    if not (args.train and args.out and args.options):
        ap.error("OUT, OPTIONS and --train are needed unless --score is given")
    seqs = load_sequences(args.train)
    clips = load_keypoint_clips(args.val[0])
    rows = []
    for seed in args.seeds:
        start = time.time()
        path = train_lifter(
            seqs, Path(args.out) / f"seed{seed}", LifterTrainConfig(**train, seed=seed), LifterConfig(**net)
        )
        row = {"run": str(path), "seed": seed, "options": given, **score(load_lifter(path), clips),
               "seconds": round(time.time() - start)}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    p = np.array([r["p"] for r in rows])
    ratio = np.array([r["ratio"] for r in rows])
    summary = {"summary": args.out, "options": given, "seeds": args.seeds, "p_mean": round(float(p.mean()), 1),
               "p_sd": round(float(p.std(ddof=1)) if len(p) > 1 else 0.0, 1), "flat": rows[0]["flat"],
               "ratio_mean": round(float(ratio.mean()), 3), "ratio_max": round(float(ratio.max()), 3)}  # fmt: skip
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()

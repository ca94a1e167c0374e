"""Train one lifter variant and print its validation figures as one JSON line (docs/LIFTING.md sweeps).

    python scripts/lifter_variant.py runs/lift/c4 '{"steps": 2000, "camera_distance": 4.0, "seed": 1}' \
        --train data/train64 --val data/lval64 >> runs/lift/results.jsonl

The JSON holds `LifterTrainConfig` fields plus the `LifterConfig` fields hidden, blocks, dropout,
camera_distance. Figures (mm, P-MPJPE without reflection) on the validation folder (a `tpt-live synth`
output): with ground-truth 2D input (`p`, and `n` = N-MPJPE) and with the shipped 2D model's keypoints
(`p_model`), beside the flat floor and the true-depth bound of the same input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from engines import open_backend
from tpt_live.evaluation.evaluate2d import load_labelled, predict_all
from tpt_live.evaluation.evaluate3d import report_3d
from tpt_live.lifter import LifterConfig, load_lifter
from trainer.lifter_train import LifterTrainConfig, load_sequences, train_lifter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="run folder for the lifter")
    ap.add_argument("options", help="JSON object of training and network options")
    ap.add_argument("--train", nargs="+", default=["data/train64"], help="pose files or folders to train on")
    ap.add_argument("--val", default="data/lval64", help="`tpt-live synth` folder to validate on")
    args = ap.parse_args()
    torch.set_num_threads(1)
    given = json.loads(args.options)
    options = dict(given)
    net_fields = {f.name for f in dataclasses.fields(LifterConfig)}
    net = {k: options.pop(k) for k in list(options) if k in net_fields}
    if "tilt_deg" in options:
        options["tilt_deg"] = tuple(options["tilt_deg"])
    start = time.time()
    path = train_lifter(load_sequences(args.train), args.out, LifterTrainConfig(**options), LifterConfig(**net))
    engine = open_backend(None, "torch", device="cpu")
    videos = load_labelled(args.val, engine.input_size)
    pred = np.concatenate(predict_all(videos, lambda frames: engine.infer(frames).keypoints))
    gt2d, gt3d = (np.concatenate([getattr(v, k) for v in videos]) for k in ("kp2d", "kp3d"))
    gt = report_3d(gt2d, gt3d, load_lifter(path), None, pred)  # as `tpt-live evaluate`, without the supervised one
    model = gt["from_model_2d"]
    row = {"run": args.out, "options": given, "train": args.train, "val": args.val}
    row |= {"p": gt["p_mpjpe_mm"], "n": gt["n_mpjpe_mm"], "flat": gt["flat_p_mpjpe_mm"]}
    row |= {"p_model": model["p_mpjpe_mm"], "flat_model": model["flat_p_mpjpe_mm"]}
    row |= {"true_depth_model": model["oracle_depth_p_mpjpe_mm"], "seconds": time.time() - start}
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()

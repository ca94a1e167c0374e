"""Turn `tpt-live synth` output into a COCO person-keypoints file with PNG images beside it.

    tpt-live synth /tmp/s --videos 4 --frames 60 --size 320x240 --seed 900
    python scripts/synth_to_coco.py /tmp/s /tmp/s_coco --every 10
    tpt-live evaluate /tmp/s_coco/people.json

Every `--every`-th frame of every video becomes an image. Keypoints: the twelve limb joints as COCO's,
the head as COCO's nose, eyes and ears unlabelled (the inverse of the map in tpt_live/evaluation/coco.py, so that
the head is read back from the nose); visibility 2 where the synth ground truth says visible, else 1.
The bbox is the extent of the 16 joints grown by 10 % of its longer side on each side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from tpt_live.evaluation.coco import COCO_KEYPOINTS
from tpt_live.skeleton import JOINT_INDEX
from tpt_live.videoio import read_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("synth_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for gt_path in sorted(args.synth_dir.glob("*.json")):
        video = gt_path.with_suffix(".mp4")
        if not video.is_file():
            continue
        gt = json.loads(gt_path.read_text())
        for i, frame in enumerate(read_video(video)):
            if i % args.every:
                continue
            name = f"{gt_path.stem}_{i:04d}.png"
            cv2.imwrite(str(args.out / name), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            kp2d = np.asarray(gt["frames"][i]["kp2d"], np.float64)
            visible = gt["frames"][i].get("visible", [True] * len(kp2d))
            kp = np.zeros((17, 3))
            for k, coco in enumerate(COCO_KEYPOINTS):
                joint = "head" if coco == "nose" else coco
                if joint in JOINT_INDEX:
                    j = JOINT_INDEX[joint]
                    kp[k] = (*kp2d[j], 2 if visible[j] else 1)
            lo, hi = kp2d.min(0), kp2d.max(0)
            pad = 0.1 * float((hi - lo).max())
            image_id = len(images)
            images.append({"id": image_id, "file_name": name, "width": frame.shape[1], "height": frame.shape[0]})
            annotations.append({
                "id": image_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "num_keypoints": int((kp[:, 2] > 0).sum()), "keypoints": kp.round(2).ravel().tolist(),
                "bbox": [*(lo - pad).round(2).tolist(), *(hi - lo + 2 * pad).round(2).tolist()],
            })  # fmt: skip
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS)}]}  # fmt: skip
    (args.out / "people.json").write_text(json.dumps(doc) + "\n")
    print(f"{args.out / 'people.json'}: {len(images)} images")


if __name__ == "__main__":
    main()

"""Real frames as photos, a peer's confident keypoints as their labels: a COCO file for `tpt-live evaluate`.

    python benchmarks/peer_photos.py CLIP.mp4 PEER.json [CLIP2.mp4 PEER2.json ...] --out DIR [--every 8]
    tpt-live evaluate DIR/people.json            # whole image (located) and box-then-located protocols

Issue 11's real-photo bar scores the tracker on whole photos and on crops around the infant. Without annotated
photos, every `--every`-th frame of a clip becomes a PNG and the peer's keypoints (`peer_agreement.py peer`,
MediaPipe Pose) with visibility >= `--min-conf` become its labels; frames where fewer than 6 joints are confident
are skipped. The bbox is the extent of all the peer's landmarks, confident or not, grown by 15% of its longer
side on each side (the head top and feet lie outside the joints). Each photo is located on its own: no running
average over frames, unlike `track` on the clip. The peer is not ground truth (docs/EVALUATION.md); the frames of
clips that may not be shipped stay out of the repository.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import av
import cv2
import numpy as np

from tpt_live.evaluation.coco import COCO_KEYPOINTS
from tpt_live.videoio import upright


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="+", help="CLIP PEER.json, repeated")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--every", type=int, default=8, help="one photo per this many frames")
    p.add_argument("--min-conf", type=float, default=0.5, help="peer visibility a joint needs to be labelled")
    args = p.parse_args()
    if len(args.pairs) % 2 or args.every < 1:
        p.error("give CLIP PEER.json pairs and --every >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    images: list[dict] = []
    annotations: list[dict] = []
    for clip, peer_file in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        peer = json.loads(Path(peer_file).read_text())["frames"]
        with av.open(clip) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % args.every or i >= len(peer) or peer[i]["kp"] is None:
                    continue
                kp = np.asarray(peer[i]["kp"], np.float64)
                ok = kp[:, 2] >= args.min_conf
                if ok.sum() < 6:
                    continue
                name = f"{Path(clip).stem}_{i:05d}.png"
                shown = upright(frame, "bgr24")
                cv2.imwrite(str(args.out / name), shown)
                label = np.zeros((len(COCO_KEYPOINTS), 3))
                label[ok, :2], label[ok, 2] = kp[ok, :2], 2
                lo, hi = kp[:, :2].min(0), kp[:, :2].max(0)
                pad = 0.15 * float((hi - lo).max())
                image_id = len(images)
                images.append({"id": image_id, "file_name": name, "width": shown.shape[1], "height": shown.shape[0]})
                annotations.append({
                    "id": image_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                    "num_keypoints": int(ok.sum()), "keypoints": label.round(2).ravel().tolist(),
                    "bbox": [*(lo - pad).round(2).tolist(), *(hi - lo + 2 * pad).round(2).tolist()],
                })  # fmt: skip
    category = {"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS), "skeleton": []}
    coco = {"images": images, "annotations": annotations, "categories": [category]}
    (args.out / "people.json").write_text(json.dumps(coco) + "\n")
    print(f"{len(images)} photos in {args.out / 'people.json'}")


if __name__ == "__main__":
    main()

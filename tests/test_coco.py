import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tpt_live.checkpoint import save_model
from tpt_live.crop import CropBox, to_model, to_source
from tpt_live.errors import InputError
from tpt_live.evaluation.coco import (
    COCO_INDEX,
    COCO_KEYPOINTS,
    SCORED_JOINTS,
    CocoConfig,
    Person,
    body_offsets,
    coco17_to_joints,
    crops,
    evaluate_coco,
    load_coco,
    pck,
    person_box,
    torso_diagonal,
)
from tpt_live.model import ModelConfig, TptModel
from tpt_live.skeleton import FLIP_INDEX, JOINT_INDEX, JOINT_NAMES
from tpt_live.synth import SynthConfig, render_clip, write_clip
from tpt_live.template import load_template
from tpt_live.videoio import read_video

J = JOINT_INDEX


def _upright_person() -> np.ndarray:
    """(J, 2) a standing figure facing the camera: subject's left on the image's right; torso diagonal 100 px."""
    pts = {
        "head": (100, 10), "neck": (100, 30), "thorax": (100, 40), "pelvis": (100, 120),
        "left_shoulder": (130, 40), "right_shoulder": (70, 40), "left_hip": (130, 120), "right_hip": (70, 120),
        "left_elbow": (150, 80), "right_elbow": (50, 80), "left_wrist": (160, 120), "right_wrist": (40, 120),
        "left_knee": (135, 170), "right_knee": (65, 170), "left_ankle": (140, 220), "right_ankle": (60, 220),
    }  # fmt: skip
    return np.array([pts[n] for n in JOINT_NAMES], np.float64)


def _as_coco(joints: np.ndarray) -> np.ndarray:
    """(J, 2) our joints -> (17, 3) COCO keypoints: limbs labelled, the nose at the head, the rest unlabelled."""
    kp = np.zeros((17, 3))
    for name in COCO_KEYPOINTS:
        source = "head" if name == "nose" else name
        if source in J:
            kp[COCO_INDEX[name]] = (*joints[J[source]], 2)
    return kp


def test_joint_map_literals():
    kp = np.zeros((3, 17, 3))
    kp[:, COCO_INDEX["left_hip"]] = (10, 50, 2)
    kp[:, COCO_INDEX["right_hip"]] = (30, 50, 1)  # labelled but not visible still counts
    kp[:, COCO_INDEX["nose"]] = (20, 0, 2)
    kp[0, COCO_INDEX["left_ear"]], kp[0, COCO_INDEX["right_ear"]] = (14, 4, 2), (26, 6, 2)
    kp[1, COCO_INDEX["left_eye"]], kp[1, COCO_INDEX["right_eye"]] = (18, 2, 2), (22, 2, 2)
    kp[1, COCO_INDEX["left_ear"]] = (14, 4, 2)  # one ear only: the eyes decide
    joints, ok = coco17_to_joints(kp[..., :2], kp[..., 2] > 0)
    assert joints[:, J["head"]].tolist() == [[20, 5], [20, 2], [20, 0]]
    assert joints[:, J["pelvis"]].tolist() == [[20, 50]] * 3
    assert joints[0, J["left_hip"]].tolist() == [10, 50]
    assert not ok[:, J["neck"]].any() and not ok[:, J["thorax"]].any() and not ok[:, J["left_knee"]].any()
    assert "neck" not in SCORED_JOINTS and len(SCORED_JOINTS) == 15


def test_torso_diagonal_is_the_mean_of_the_labelled_diagonals():
    joints = np.zeros((2, len(JOINT_NAMES), 2))
    joints[:, J["left_shoulder"]], joints[:, J["right_hip"]] = (0, 0), (30, 40)  # 50 px
    joints[:, J["right_shoulder"]], joints[:, J["left_hip"]] = (0, 0), (0, 70)  # 70 px
    ok = np.ones((2, len(JOINT_NAMES)), bool)
    ok[1, J["left_hip"]] = False
    assert torso_diagonal(joints, ok).tolist() == [60.0, 50.0]
    ok[1, J["right_hip"]] = False
    assert np.isnan(torso_diagonal(joints, ok)[1])


def test_pck_of_ground_truth_shifted_wrists_and_a_swap():
    gt = _upright_person()[None]
    joints, ok = coco17_to_joints(_as_coco(gt[0])[None, :, :2], _as_coco(gt[0])[None, :, 2] > 0)
    assert torso_diagonal(joints, ok)[0] == pytest.approx(100.0)  # |(130,40)-(70,120)| = 100
    torso = np.array([100.0])
    perfect = pck(gt, joints, ok, torso)
    assert perfect["pck@0.1"] == perfect["pck@0.2_strict"] == 1.0 and perfect["n_joints"] == 15
    shifted = gt.copy()
    shifted[0, [J["left_wrist"], J["right_wrist"]], 0] += 15.0  # 0.15 torso: wrong at 0.1, right at 0.2
    r = pck(shifted, joints, ok, torso)
    assert r["pck@0.1"] == pytest.approx(13 / 15) and r["pck@0.2"] == 1.0
    assert r["per_part"]["hands"] == {"pck@0.1": 0.0, "pck@0.2": 1.0}
    assert r["per_part"]["knees"]["pck@0.1"] == 1.0
    # left and right exchanged: swap-tolerant scores are perfect; strictly only the 3 centre joints are right
    # (every left/right pair here is at least 60 px = 0.6 torso apart)
    swapped = gt[:, list(FLIP_INDEX)]
    r = pck(swapped, joints, ok, torso)
    assert r["pck@0.1"] == r["pck@0.2"] == 1.0
    assert r["pck@0.2_strict"] == pytest.approx(3 / 15) and r["per_part_strict"]["hips"]["pck@0.2"] == 0.0
    assert r["per_part_strict"]["trunk"]["pck@0.2"] == 1.0


def test_body_offsets_measure_a_shift_in_each_persons_own_frame():
    """A prediction shifted by a fixed offset in the body frame (0.2 torso diagonals toward the head, 0.1 to the
    right of the person turned head up) reads back as that offset for every joint, at any body direction; a
    prediction with left and right exchanged reads as no offset (the swap the tolerant scores take); people
    without a labelled head and pelvis are left out."""
    upright = _upright_person()  # head up: toward the head is -y, across (right) is +x; torso diagonal 100 px
    people, shifted, swapped = [], [], []
    for degrees in (0.0, 90.0, 200.0, 315.0):
        a = np.radians(degrees)  # turned clockwise on screen (y down) about the pelvis
        turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        gt = (upright - upright[J["pelvis"]]) @ turn.T + (300.0, 250.0)
        people.append(Person(Path("p.png"), CropBox(0, 0, 1, 1), gt, np.ones(len(JOINT_NAMES), bool), 100.0))
        shifted.append(gt + turn @ np.array([10.0, -20.0]))
        swapped.append(gt[list(FLIP_INDEX)])
    r = body_offsets(np.stack(shifted), people)
    assert r is not None and r["people"] == 4 and len(r["joints"]) == len(JOINT_NAMES)
    for o in r["joints"].values():
        assert o["toward_head"] == pytest.approx(0.2) and o["across"] == pytest.approx(0.1) and o["n"] == 4
    r = body_offsets(np.stack(swapped), people)
    assert r is not None and all(abs(o["toward_head"]) + abs(o["across"]) < 1e-9 for o in r["joints"].values())
    headless = Person(Path("p.png"), CropBox(0, 0, 1, 1), people[0].gt, np.arange(len(JOINT_NAMES)) != J["head"], 100.0)
    assert body_offsets(np.stack(shifted[:1]), [headless]) is None


def test_person_box_is_square_around_the_annotated_box():
    # longer side 80 * (1 + 2 * 0.1) = 96, centred on (30, 60)
    assert person_box(CropBox(10, 20, 40, 80), 0.1) == CropBox(-18, 12, 96, 96)
    assert person_box(CropBox(0, 0, 50, 20), 0.0) == CropBox(0, -15, 50, 50)


@pytest.fixture(scope="module")
def coco_file(tmp_path_factory):
    """Three frames of `tpt-live synth` output as PNGs and a COCO file of their ground truth."""
    root = tmp_path_factory.mktemp("coco")
    write_clip(render_clip(SynthConfig(width=96, height=64, frames=7, seed=3)), root)
    gt = json.loads(next(root.glob("*.json")).read_text())
    frames = list(read_video(next(root.glob("*.mp4"))))
    images, annotations = [], []
    for k, i in enumerate((0, 3, 6)):
        cv2.imwrite(str(root / f"frame{i}.png"), cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR))
        kp2d = np.array(gt["frames"][i]["kp2d"])
        lo, hi = kp2d.min(0), kp2d.max(0)
        images.append({"id": k, "file_name": f"frame{i}.png", "width": 96, "height": 64})
        annotations.append({
            "id": k, "image_id": k, "category_id": 1, "iscrowd": 0, "num_keypoints": 13,
            "keypoints": _as_coco(kp2d).ravel().tolist(), "bbox": [*lo.tolist(), *(hi - lo).tolist()],
        })  # fmt: skip
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS)}]}  # fmt: skip
    (root / "people.json").write_text(json.dumps(doc))
    return root / "people.json", np.array([gt["frames"][i]["kp2d"] for i in (0, 3, 6)])


def test_coco_file_of_synth_ground_truth_scores_one(coco_file):
    path, kp2d = coco_file
    data = load_coco(path)
    assert len(data.images) == 3 and data.skipped == {"crowd": 0, "no_torso": 0, "other_category": 0}
    for protocol in ("image", "box"):
        inputs, boxes, people, turns = crops(data, protocol, 32, CocoConfig())
        assert turns == [0.0, 0.0, 0.0]
        assert inputs.shape == (3, 32, 32, 3)
        gt = np.stack([p.gt for p in people])
        ok = np.stack([p.labelled for p in people])
        assert np.allclose(gt[:, J["left_knee"]], kp2d[:, J["left_knee"]])
        assert np.allclose(gt[:, J["pelvis"]], (kp2d[:, J["left_hip"]] + kp2d[:, J["right_hip"]]) / 2)
        # a perfect model, seen through the crop's coordinates and back
        pred = np.stack([to_source(to_model(g, b, 32), b, 32) for g, b in zip(kp2d, boxes, strict=True)])
        r = pck(pred, gt, ok, np.array([p.torso for p in people]))
        assert r["pck@0.1"] == r["pck@0.1_strict"] == 1.0 and r["n_people"] == 3
    _, boxes, _, _ = crops(data, "image", 32, CocoConfig())
    assert boxes[0] == CropBox(0, -16, 96, 96)  # the whole 96x64 frame letterboxed


def test_untrained_model_scores_as_its_template_through_the_cli(coco_file, tmp_path):
    path, _ = coco_file
    model = TptModel(ModelConfig(input_size=32, widths=(8, 16), hidden=8), load_template("infant"))
    weights = save_model(model, tmp_path / "m.safetensors")
    out = tmp_path / "coco_metrics.json"
    cmd = [sys.executable, "-m", "tpt_live", "evaluate", str(path), "--model", str(weights), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for protocol in ("image", "box"):
        r = result["protocols"][protocol]
        assert r["n_people"] == 3
        for key in ("pck@0.1", "pck@0.2", "pck@0.2_strict"):
            assert r[key] == pytest.approx(r["template_only"][key]) and 0.0 <= r[key] <= 1.0
        for part, v in r["per_part"].items():  # the template's per-part figures too (the axis protocol's limbs)
            t = r["template_only"]["per_part"][part]["pck@0.2"]
            assert (v["pck@0.2"] is None and t is None) or v["pck@0.2"] == pytest.approx(t)


def test_evaluate_coco_matches_an_oracle(coco_file):
    """A model that returns the ground truth in its own input pixels scores 1.0; its template does not."""
    path, kp2d = coco_file
    data, size = load_coco(path), 32
    boxes = iter(crops(data, "image", size, CocoConfig())[1] + crops(data, "box", size, CocoConfig())[1])
    truth = iter(list(kp2d) * 2)  # the image protocol, then the box protocol, in the same image order

    def oracle(frames):
        return np.stack([to_model(next(truth), next(boxes), size) for _ in frames])

    result = evaluate_coco(path, oracle, size, load_template("infant"))
    for protocol in ("image", "box"):
        assert result["protocols"][protocol]["pck@0.1_strict"] == 1.0
        assert result["protocols"][protocol]["template_only"]["pck@0.1"] < 1.0


def test_bad_coco_files(tmp_path):
    (tmp_path / "x.json").write_text('{"images": []}')
    with pytest.raises(InputError, match="not a COCO keypoints file"):
        load_coco(tmp_path / "x.json")
    doc = {"images": [{"id": 1, "file_name": "gone.png"}], "categories": [{"id": 1, "keypoints": list(COCO_KEYPOINTS)}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
                            "keypoints": _as_coco(_upright_person()).ravel().tolist()}]}  # fmt: skip
    (tmp_path / "y.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="not found beside it"):
        load_coco(tmp_path / "y.json")
    proc = subprocess.run([sys.executable, "-m", "tpt_live", "evaluate", str(tmp_path / "y.json")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1].startswith("error:") and "Traceback" not in proc.stderr


def test_box_located_finds_the_subject_inside_the_box(coco_file):
    """The box protocol for located models: the localiser runs on the box's cut-out, and the input it makes
    shows the subject head up where the template has it (the box offset and the turn are undone right)."""
    from tpt_live.crop import turn_matrix
    from tpt_live.localiser_net import load_localiser

    path, kp2d = coco_file
    data, size = load_coco(path), 64
    inputs, boxes, people, turns = crops(data, "box_located", size, CocoConfig(), load_localiser())
    assert inputs.shape == (3, size, size, 3) and len(turns) == 3
    for truth, box, k in zip(kp2d, boxes, turns, strict=True):
        m = turn_matrix(k, size)
        seen = to_model(truth, box, size) @ m[:2, :2].T + m[:2, 2]  # where the input shows each joint
        head, pelvis = seen[J["head"]], seen[J["pelvis"]]
        assert head[1] < pelvis[1]  # head up
        assert 0 <= head[0] < size and 0 <= pelvis[1] < size  # in view
        assert abs(head[0] - pelvis[0]) < 0.25 * size  # the body axis is near vertical


def test_axis_protocol_cuts_along_the_annotated_body_axis(coco_file):
    """The axis protocol (a perfect localiser): the input it makes shows each person's annotated head and pelvis
    where the template has them, whatever way the person lies."""
    from tpt_live.crop import turn_matrix

    path, kp2d = coco_file
    data, size = load_coco(path), 64
    inputs, boxes, people, turns = crops(data, "axis", size, CocoConfig())
    assert inputs.shape == (3, size, size, 3)
    template = load_template("infant").joints(size)
    for truth, box, k in zip(kp2d, boxes, turns, strict=True):
        m = turn_matrix(k, size)
        seen = to_model(truth, box, size) @ m[:2, :2].T + m[:2, 2]
        for name in ("head", "pelvis"):
            assert np.abs(seen[J[name]] - template[J[name]]).max() < 1.0, name


def test_axis_errors_measure_the_localisers_axis_against_the_labels(coco_file):
    """The located protocols' `localiser_axis`: the located centre (offset back into the image), length and
    direction against the annotated body axis, in axis lengths, a ratio and degrees."""
    from tpt_live.evaluation.coco import Cut, axis_errors
    from tpt_live.localise import Location, body_axis

    path, _ = coco_file
    people = [p for persons in load_coco(path).images.values() for p in persons]
    net, box, made = np.zeros((8, 8, 3), np.uint8), CropBox(0, 0, 8, 8), []
    for person in people:
        x, y, length, angle = body_axis(person.gt)
        a = np.radians(angle)
        across = 0.5 * length * np.array([np.cos(a), np.sin(a)])  # perpendicular to the head direction
        # found in a picture cut out at (10, 5): half a length across the axis, 1.5x as long, turned 330 degrees
        loc = Location(x + across[0] - 10, y + across[1] - 5, 1.5 * length, (angle + 330.0) % 360.0, 1.0)
        made.append(Cut(net, box, person, location=loc, offset=(10.0, 5.0)))
    r = axis_errors([*made, Cut(net, box, people[0])])  # a cut without a location is not counted
    assert r == pytest.approx({"people": len(people), "centre_per_length": 0.5, "length_ratio": 1.5,
                               "direction_deg": 30.0})  # fmt: skip
    assert axis_errors([Cut(net, box, people[0])]) is None

"""Real-footage yardstick: PCK of the torso diagonal against COCO person keypoints (or a peer's keypoints).

COCO's 17 keypoints map to our 16 joints (`tpt_live.skeleton`) as `JOINT_FROM_COCO` says: the twelve limb
joints are the same points under the same anatomical names; `pelvis` is the midpoint of the hips and
`thorax` the midpoint of the shoulders (exactly how the synthetic body defines them); `head` (the centre
of the head) is the midpoint of the ears, else of the eyes, else the nose; `neck` (the base of the head)
has no COCO counterpart and is never scored. A joint is scored only where every COCO point it is read
from is labelled (visibility flag > 0, or a peer's confidence above its threshold).

Score: a joint is correct when its distance to the annotation is below `threshold` x the person's torso
diagonal (the mean of |left shoulder - right hip| and |right shoulder - left hip| over the labelled
pairs; a person without either pair is not scored). Swap-tolerant scores let each person's prediction
swap left and right as a whole, taking the side with the smaller mean normalised error; strict scores
do not.

Protocols (`evaluate_coco`):
- `image`: the model sees the whole image letterboxed into a square (`tpt_live.crop.full_box`), as
  `tpt-live track` does with a still image, and must find the subject; it is scored against the image's
  largest scorable person (by box area).
- `box`: every annotated person is cut out with a square box around its annotated bbox (`person_box`,
  `margin` of the box's longer side added on each side, black outside the image), so the model is
  given the subject and is never shown a squashed image.
- `located` (with a localiser, `tpt-live evaluate FILE --locate`): the whole image goes through the
  localisation stage (`tpt_live.localise`), the model sees the crop and turn it picks (as
  `tpt-live track --locate` does), and is scored against the largest scorable person like `image`.
- `box_located` (with a localiser): every annotated person's square box (as `box`) is cut out at its own
  resolution, and the localiser then finds, frames and turns the subject within it: what `tpt-live track`
  does by default with a located model (`ModelConfig.framing`) on a photo cropped around the subject.
- `axis` (with the located ones): every annotated person whose head and pelvis are labelled is cut and turned
  along its own annotated body axis (`localise.body_axis`), as the located protocols cut along the localiser's:
  the part model behind a perfect localiser. Beside `located`, it tells how much of the error is the
  localiser's (docs/EVALUATION.md).

Coordinates: every point is (x=col, y=row), source pixels, pixel centres at integers (COCO's own
keypoints are taken as given, as every COCO tool does). A photo is read turned as its EXIF orientation says (as
`tpt-live track` reads it), unless the file's `width` and `height` are those of the picture as stored and not as
shown: then the annotation was made on the stored picture, and it is read so (`tpt_live.videoio.read_photo`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tpt_live.crop import CropBox, crop_resize, full_box, square_box, to_source, turned_crop, unturn_points_by
from tpt_live.errors import InputError
from tpt_live.localise import Location, body_axis, crop_along, refined
from tpt_live.localiser_net import Localiser
from tpt_live.skeleton import FLIP_INDEX, JOINT_INDEX, JOINT_NAMES, PART_GROUPS
from tpt_live.template import Template
from tpt_live.videoio import read_photo

log = logging.getLogger(__name__)

Predict = Callable[[np.ndarray], np.ndarray]  # (B, S, S, 3) uint8 RGB -> (B, J, 2) model-input pixels

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_INDEX: dict[str, int] = {name: i for i, name in enumerate(COCO_KEYPOINTS)}
_LIMBS = tuple(n for n in JOINT_NAMES if n in COCO_INDEX)

# Per joint: alternatives in order of preference; the first whose COCO points are all labelled gives the
# joint as their mean. Joints missing here (neck) are never scored.
JOINT_FROM_COCO: dict[str, tuple[tuple[str, ...], ...]] = {
    **{name: ((name,),) for name in _LIMBS},
    "pelvis": (("left_hip", "right_hip"),),
    "thorax": (("left_shoulder", "right_shoulder"),),
    "head": (("left_ear", "right_ear"), ("left_eye", "right_eye"), ("nose",)),
}
SCORED_JOINTS: tuple[str, ...] = tuple(n for n in JOINT_NAMES if n in JOINT_FROM_COCO)
PARTS: dict[str, tuple[str, ...]] = {
    "head": ("head",),
    "shoulders": PART_GROUPS["shoulders"],
    "elbows": ("left_elbow", "right_elbow"),
    "hands": PART_GROUPS["hands"],
    "hips": PART_GROUPS["hips"],
    "knees": PART_GROUPS["knees"],
    "feet": PART_GROUPS["feet"],
    "trunk": ("pelvis", "thorax"),
}
THRESHOLDS = (0.1, 0.2)  # fractions of the torso diagonal
PROTOCOLS = ("image", "box", "located", "box_located", "axis")


def coco17_to_joints(xy: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 points -> our joints, by `JOINT_FROM_COCO`.

    xy: (N, 17, 2) float, COCO keypoint order; ok: (N, 17) bool, True where labelled (or confident).
    Returns (joints (N, J, 2) float64, NaN where not derivable; labelled (N, J) bool).
    """
    xy = np.asarray(xy, np.float64)
    ok = np.asarray(ok, bool)
    joints = np.full((len(xy), len(JOINT_NAMES), 2), np.nan)
    labelled = np.zeros((len(xy), len(JOINT_NAMES)), bool)
    for name, alternatives in JOINT_FROM_COCO.items():
        j = JOINT_INDEX[name]
        for names in reversed(alternatives):  # the preferred alternative is written last and wins
            idx = [COCO_INDEX[n] for n in names]
            have = ok[:, idx].all(1)
            joints[have, j] = xy[have][:, idx].mean(1)
            labelled[:, j] |= have
    return joints, labelled


def torso_diagonal(joints: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """(N,) mean length of the labelled torso diagonals (shoulder to opposite hip), NaN where there is none.

    joints: (N, J, 2) our joints, source pixels; labelled: (N, J) bool.
    """
    lengths, counts = np.zeros(len(joints)), np.zeros(len(joints))
    for a, b in (("left_shoulder", "right_hip"), ("right_shoulder", "left_hip")):
        ia, ib = JOINT_INDEX[a], JOINT_INDEX[b]
        have = labelled[:, ia] & labelled[:, ib]
        lengths[have] += np.linalg.norm(joints[have, ia] - joints[have, ib], axis=-1)
        counts += have
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, lengths / counts, np.nan)


def pck(pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray, torso: np.ndarray) -> dict:
    """PCK at `THRESHOLDS` of the torso diagonal, swap-tolerant and strict, overall and per part.

    pred, gt: (N, J, 2) the same pixels; labelled: (N, J) bool, the joints scored; torso: (N,) > 0 pixels.
    A joint counts when its distance is below threshold x torso. Returns fractions of the labelled joints
    (keys `pck@0.1`, `pck@0.1_strict`, ..., `per_part`, `per_part_strict`, `n_people`, `n_joints`).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    labelled = np.asarray(labelled, bool) & np.isfinite(gt).all(-1)
    if pred.shape != gt.shape or labelled.shape != gt.shape[:2] or len(torso) != len(gt):
        raise ValueError(f"pred {pred.shape}, gt {gt.shape}, labelled {labelled.shape}, torso {len(torso)} disagree")
    strict, flipped, use = _errors(pred, gt, labelled, torso)
    tolerant = np.where(use[:, None], flipped, strict)
    out: dict = {"n_people": int(len(gt)), "n_joints": int(labelled.sum())}
    for kind, err in (("", tolerant), ("_strict", strict)):
        parts: dict[str, dict[str, float | None]] = {}
        for t in THRESHOLDS:
            out[f"pck@{t:g}{kind}"] = _share(err < t, labelled)
            for part, names in PARTS.items():
                cols = [JOINT_INDEX[n] for n in names]
                parts.setdefault(part, {})[f"pck@{t:g}"] = _share(err[:, cols] < t, labelled[:, cols])
        out[f"per_part{kind}"] = parts
    return out


def _errors(pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray, torso: np.ndarray) -> tuple[np.ndarray, ...]:
    """(N, J) distances in torso diagonals as predicted and with left/right swapped, and (N,) whether the swap
    is closer on average over each person's labelled joints (the swap the tolerant scores take)."""
    torso = np.asarray(torso, np.float64)[:, None]
    gt0 = np.where(labelled[..., None], gt, 0.0)
    strict = np.linalg.norm(pred - gt0, axis=-1) / torso
    flipped = np.linalg.norm(pred[:, list(FLIP_INDEX)] - gt0, axis=-1) / torso
    n = np.maximum(labelled.sum(1), 1)
    return strict, flipped, (flipped * labelled).sum(1) / n < (strict * labelled).sum(1) / n


def body_offsets(pred: np.ndarray, people: list[Person]) -> dict | None:
    """Each joint's mean offset from its label in the person's own body frame, in torso diagonals, over the people
    with an annotated body axis (`annotated_axis`): `toward_head` along the pelvis-to-head direction, `across` to
    the right of the person turned head up; limbs with the left/right swap the tolerant scores take. Random errors
    average out; a convention of the labels or a bias of the model does not (docs/EVALUATION.md)."""
    gt = np.stack([p.gt for p in people])
    labelled = np.stack([p.labelled for p in people]) & np.isfinite(gt).all(-1)
    use = _errors(pred, gt, labelled, np.array([p.torso for p in people]))[2]
    pred = np.where(use[:, None, None], pred[:, list(FLIP_INDEX)], pred)
    sums, counts, n = np.zeros((len(JOINT_NAMES), 2)), np.zeros(len(JOINT_NAMES)), 0
    for p, q, ok, person in zip(pred, gt, labelled, people, strict=True):
        if (axis := annotated_axis(person)) is None:
            continue
        a = np.radians(axis.angle)
        frame = np.array([[np.sin(a), -np.cos(a)], [np.cos(a), np.sin(a)]])  # rows: toward the head, across
        sums[ok] += (p[ok] - q[ok]) @ frame.T / person.torso
        counts[ok] += 1
        n += 1
    if n == 0:
        return None
    mean = (sums / np.maximum(counts, 1)[:, None]).round(4)
    rows = ({"toward_head": float(a), "across": float(b), "n": int(c)} for (a, b), c in zip(mean, counts, strict=True))
    joints = {name: row for name, row, c in zip(JOINT_NAMES, rows, counts, strict=True) if c}
    return {"people": n, "joints": joints}


def _share(hit: np.ndarray, labelled: np.ndarray) -> float | None:
    n = int(labelled.sum())
    return float((hit & labelled).sum() / n) if n else None


@dataclass(frozen=True)
class Person:
    """One scorable annotated person. Points are source pixels of its image."""

    image: Path  # the image file
    bbox: CropBox  # the annotated box
    gt: np.ndarray  # (J, 2) our joints (NaN where not labelled)
    labelled: np.ndarray  # (J,) bool
    torso: float  # torso diagonal, pixels


@dataclass(frozen=True)
class CocoSet:
    images: dict[Path, list[Person]]  # image file -> its scorable people (images without any are left out)
    skipped: dict[str, int]  # annotations not scored, by reason
    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)  # the file's (width, height), where it says


def load_coco(path: str | Path) -> CocoSet:
    """A COCO person-keypoints annotation file; images are looked up beside it (`file_name` relative to it)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        images = {int(im["id"]): im for im in doc["images"]}
        persons = [c["id"] for c in doc["categories"] if len(c.get("keypoints", ())) == 17]
        annotations = doc["annotations"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path} is not a COCO keypoints file (images, annotations, categories): {exc!r}") from None
    if not persons:
        raise InputError(f"{path}: no category has COCO's 17 person keypoints")
    out: dict[Path, list[Person]] = {}
    sizes: dict[Path, tuple[int, int]] = {}
    skipped = {"crowd": 0, "no_torso": 0, "other_category": 0}
    for ann in annotations:
        if ann.get("category_id") not in persons:
            skipped["other_category"] += 1
            continue
        if ann.get("iscrowd", 0):
            skipped["crowd"] += 1
            continue
        try:
            kp = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
            image = images[int(ann["image_id"])]
            bbox = CropBox(*(float(v) for v in ann["bbox"]))
        except (KeyError, ValueError, TypeError, InputError) as exc:
            raise InputError(f"{path}: malformed annotation {ann.get('id', '?')}: {exc}") from None
        gt, labelled = coco17_to_joints(kp[None, :, :2], kp[None, :, 2] > 0)
        torso = float(torso_diagonal(gt, labelled)[0])
        if not torso > 0:
            skipped["no_torso"] += 1
            continue
        file = path.parent / image["file_name"]
        out.setdefault(file, []).append(Person(file, bbox, gt[0], labelled[0], torso))
        if isinstance(image.get("width"), int) and isinstance(image.get("height"), int):
            sizes[file] = (image["width"], image["height"])
    missing = [f for f in out if not f.is_file()]
    if missing:
        raise InputError(f"{path}: {len(missing)} image(s) not found beside it, e.g. {missing[0]}")
    if not out:
        raise InputError(f"{path}: no annotated person with a labelled torso (shoulder and opposite hip)")
    return CocoSet(out, skipped, sizes)


def person_box(bbox: CropBox, margin: float) -> CropBox:
    """The square integer box, centred on `bbox`, whose side is its longer side x (1 + 2 margin)."""
    side = int(round(max(bbox.w, bbox.h) * (1 + 2 * margin)))
    cx, cy = bbox.x + bbox.w / 2, bbox.y + bbox.h / 2
    return square_box(CropBox(int(round(cx - side / 2)), int(round(cy - side / 2)), side, side))


@dataclass(frozen=True)
class CocoConfig:
    margin: float = 0.1  # box protocol: added on each side of the annotated box, fraction of its longer side
    batch: int = 32  # crops per inference call
    refine: int = 1  # located protocols: passes that cut again along the model's own axis (`track --refine`)

    def __post_init__(self) -> None:
        if self.margin < 0 or self.batch < 1 or self.refine < 0:
            raise InputError(f"COCO evaluation settings {self} out of range (margin >= 0, batch >= 1, refine >= 0)")


@dataclass
class Cut:
    """One model input of a protocol: the pixels, the source box they show (float, as `to_source` takes it), the
    person scored on it and the turn in degrees counter-clockwise; for the located protocols also the picture
    the localiser saw (the whole image, or the box cut out), its offset in the image and the location."""

    net: np.ndarray
    box: CropBox
    person: Person
    turn: float = 0.0
    picture: np.ndarray | None = None
    offset: tuple[float, float] = (0.0, 0.0)
    location: Location | None = None

    def refine(self, pred: np.ndarray, size: int) -> None:
        """Cut again along the body axis of `pred` (J, 2) in image pixels (`localise.refined`, as `track
        --refine` does); kept as it is where that axis strays from the location."""
        if self.picture is None or self.location is None:
            return
        axis = refined(pred - np.asarray(self.offset), self.location)
        if axis is not None:
            box, self.turn = crop_along(axis)
            self.net, exact = turned_crop(self.picture, box, self.turn, size)
            self.box = CropBox(exact.x + self.offset[0], exact.y + self.offset[1], exact.w, exact.h)


def cuts(data: CocoSet, protocol: str, size: int, config: CocoConfig, localiser: Localiser | None = None) -> list[Cut]:
    """The model inputs of a protocol (`Cut`), in the order of the images and their people."""
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}: use one of {PROTOCOLS}")
    if protocol.endswith("located") and localiser is None:
        raise InputError(f"the {protocol} protocol needs a localiser")
    out: list[Cut] = []
    for file, persons in data.images.items():
        image = read_photo(file, data.sizes.get(file))
        h, w = image.shape[:2]
        largest = max(persons, key=lambda p: p.bbox.w * p.bbox.h)
        if protocol == "image":
            out.append(Cut(crop_resize(image, full_box(w, h), size), full_box(w, h), largest))
        elif protocol == "located":
            assert localiser is not None
            loc = localiser.locate([image])[0]
            box, k = crop_along(loc)
            net, exact = turned_crop(image, box, k, size) if k else (crop_resize(image, box, size), box)
            out.append(Cut(net, exact, largest, k, image, (0.0, 0.0), loc))
        for person in persons if protocol == "axis" else []:
            if (axis := annotated_axis(person)) is not None:
                box, k = crop_along(axis)
                net, exact = turned_crop(image, box, k, size)
                out.append(Cut(net, exact, person, k))
        for person in persons if protocol.startswith("box") else []:
            box = person_box(person.bbox, config.margin)
            if protocol == "box":
                out.append(Cut(crop_resize(image, box, size), box, person))
                continue
            assert localiser is not None
            cut = crop_resize(image, box, int(box.w))  # the photo cropped around the subject, own resolution
            loc = localiser.locate([cut])[0]
            inner, k = crop_along(loc)
            net, exact = turned_crop(cut, inner, k, size)
            exact = CropBox(exact.x + box.x, exact.y + box.y, exact.w, exact.h)
            out.append(Cut(net, exact, person, k, cut, (float(box.x), float(box.y)), loc))
    return out


def crops(
    data: CocoSet, protocol: str, size: int, config: CocoConfig, localiser: Localiser | None = None
) -> tuple[np.ndarray, list[CropBox], list[Person], list[float]]:
    """The model inputs of a protocol: ((P, S, S, 3) uint8 RGB, the box each shows, the person it is scored on,
    the degrees the input was turned counter-clockwise (non-zero in the located protocol only))."""
    made = cuts(data, protocol, size, config, localiser)
    return np.stack([c.net for c in made]), [c.box for c in made], [c.person for c in made], [c.turn for c in made]


def annotated_axis(person: Person) -> Location | None:
    """The person's annotated body axis (`localise.body_axis`, image pixels), None unless head and pelvis are
    labelled apart."""
    x, y, length, angle = (float(v) for v in body_axis(person.gt))
    labelled = person.labelled[[JOINT_INDEX["head"], JOINT_INDEX["pelvis"]]].all()
    return Location(x, y, length, angle, 1.0) if labelled and length > 0 else None


def axis_errors(made: list[Cut]) -> dict | None:
    """The localiser's body axis (each cut's `location`) against the annotated one (`annotated_axis`), over the
    cuts whose person has one: the medians of the centre's distance in annotated axis lengths, of the length
    ratio and of the direction's error in degrees; None without such a cut."""
    rows = []
    for cut in made:
        loc, truth = cut.location, annotated_axis(cut.person)
        if loc is None or truth is None:
            continue
        centre = np.hypot(loc.x + cut.offset[0] - truth.x, loc.y + cut.offset[1] - truth.y) / truth.length
        rows.append((centre, loc.length / truth.length, abs((loc.angle - truth.angle + 180.0) % 360.0 - 180.0)))
    if not rows:
        return None
    med = np.median(np.array(rows), axis=0)
    return {"people": len(rows), "centre_per_length": float(med[0]), "length_ratio": float(med[1]),
            "direction_deg": float(med[2])}  # fmt: skip


def _predict_source(made: list[Cut], predict: Predict, size: int, batch: int) -> np.ndarray:
    """(P, J, 2) predictions for the cuts, in image pixels."""
    inputs = np.stack([c.net for c in made])
    model_px = np.concatenate([predict(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])
    points = [unturn_points_by(p.astype(np.float64), c.turn, size) for p, c in zip(model_px, made, strict=True)]
    return np.stack([to_source(p, c.box, size) for p, c in zip(points, made, strict=True)])


def evaluate_coco(
    path: str | Path,
    predict: Predict,
    size: int,
    template: Template | None = None,
    config: CocoConfig | None = None,
    localiser: Localiser | None = None,
) -> dict:
    """PCK of `predict` (and of the untransformed `template`, when given) in the image and box protocols, and
    with a `localiser` also in the located protocols (the whole image through `tpt_live.localise`, the crop
    and turn it picks, then `config.refine` passes along the model's own axis, as `track` does). The template
    baseline sits in the crops the model saw last."""
    config = config or CocoConfig()
    data = load_coco(path)
    result: dict = {"n_images": len(data.images), "skipped": data.skipped, "protocols": {}}
    for protocol in PROTOCOLS if localiser is not None else PROTOCOLS[:2]:  # the located ones need a localiser
        made = cuts(data, protocol, size, config, localiser)
        if not made:  # `axis`: no person with a labelled head and pelvis
            continue
        pred = _predict_source(made, predict, size, config.batch)
        for _ in range(config.refine if protocol.endswith("located") else 0):
            for cut, p in zip(made, pred, strict=True):
                cut.refine(p, size)
            pred = _predict_source(made, predict, size, config.batch)
        boxes, people, turns = [c.box for c in made], [c.person for c in made], [c.turn for c in made]
        gt = np.stack([p.gt for p in people])
        labelled = np.stack([p.labelled for p in people])
        torso = np.array([p.torso for p in people])
        scores = pck(pred, gt, labelled, torso)
        if (offsets := body_offsets(pred, people)) is not None:
            scores["body_offset"] = offsets
        if protocol.endswith("located") and (axis := axis_errors(made)) is not None:
            scores["localiser_axis"] = axis  # the location is the localiser's: refinement cuts without moving it
        if template is not None:
            joints = template.joints(size).astype(np.float64)
            base = np.stack(
                [to_source(unturn_points_by(joints, k, size), b, size) for b, k in zip(boxes, turns, strict=True)]
            )
            scores["template_only"] = pck(base, gt, labelled, torso)
        result["protocols"][protocol] = scores
    result["protocol"] = (
        f"PCK of the torso diagonal, thresholds {THRESHOLDS}; joints {SCORED_JOINTS} (COCO map in "
        f"tpt_live/evaluation/coco.py); image: whole image letterboxed to {size}x{size}, scored on the largest "
        "scorable person; located: the localiser's crop and turn of the whole image, same person; box: square "
        f"crop around each annotated box (+{config.margin:g} of its longer side per side); box_located: the "
        "localiser's crop and turn inside that box; axis: cut and turned along the annotated head-pelvis axis; "
        "pck@* allow a left/right swap per person, *_strict do not"
    )
    return result


def table_rows(result: dict) -> list[list[str]]:
    """Rows (protocol, kind, PCK@0.1, PCK@0.2, then PCK@0.2 per part of `PARTS`) for a printed table."""
    rows = []
    for protocol, r in result["protocols"].items():
        for kind, suffix in (("tolerant", ""), ("strict", "_strict")):
            parts = [r[f"per_part{suffix}"][p]["pck@0.2"] for p in PARTS]
            rows.append([protocol, kind, *(_fmt(r[f"pck@{t:g}{suffix}"]) for t in THRESHOLDS), *map(_fmt, parts)])
        if "template_only" in r:
            rows.append([protocol, "template", *(_fmt(r["template_only"][f"pck@{t:g}"]) for t in THRESHOLDS)])
    return rows


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"

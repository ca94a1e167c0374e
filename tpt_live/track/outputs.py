"""Pose files: .json, .jsonl, .csv, an OpenPose folder and COCO results, all described by one JSON Schema.

Every format carries the same header (what made the file, from which source, in which coordinates) and
one record per decoded frame. The .json file is kept valid on disk while it grows: after each record the
closing brackets are written and the write position moved back before them, so an interrupted run
(Ctrl-C, SIGTERM, even a kill) leaves valid JSON with every flushed frame; `close()` flushes the rest.

Coordinates: `kp2d` and `kp2d_raw` are [x, y, score] per keypoint in SOURCE pixels, x=col, y=row, pixel
centres at integers; `score` is the model's consistency (1 = every template copy of the joint agrees).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from tpt_live import __version__
from tpt_live.crop import HEADS
from tpt_live.errors import InputError
from tpt_live.skeleton import BONE_INDEX, JOINT_NAMES
from tpt_live.track.pipeline import Result

SCHEMA_NAME = "tpt-live/poses"
SCHEMA_VERSION = 1
FORMATS = ("json", "jsonl", "csv", "openpose", "coco")
CONVENTIONS = {
    "kp2d": "[x, y, score] per keypoint, source pixels, x=col, y=row, pixel centres at integers, One-Euro smoothed",
    "kp2d_raw": "as kp2d, unsmoothed",
    "kp3d": (
        "[x, y, z] per keypoint, root-relative (pelvis), metres (scale from the lifter's assumed body length), "
        "camera axes x right y down z forward, smoothed; kp3d_raw unsmoothed"
    ),
    "score": "template consistency in (0, 1]: 1 when every copy of the joint agrees",
    "t": "seconds from the first frame (presentation time; wall clock for live sources)",
    "box": "[x, y, w, h] source pixels the model saw (first column, first row, width, height)",
    "head": "locate mode: where the head points in the picture for this frame (the model input was turned upright)",
    "location": "locate mode: the localiser's body axis [x, y, length, angle, score]: pelvis-to-head midpoint and "
    "length in source pixels, head direction in degrees clockwise from up, score 0-1",
}


def schema() -> dict:
    """The JSON Schema of every format (`$defs`: header, frame, json_file, csv_row, openpose_frame, coco_file)."""
    text = resources.files("tpt_live.track").joinpath("schemas/poses.schema.json").read_text()
    return json.loads(text)


def validate(document: Any, definition: str) -> None:
    """Validate against one `$defs` entry of the schema (needs `jsonschema`, a dev dependency)."""
    _validator(definition).validate(document)


@functools.cache
def _validator(definition: str) -> Any:
    import jsonschema

    root = schema()
    return jsonschema.Draft202012Validator({"$defs": root["$defs"], "$ref": f"#/$defs/{definition}"})


def make_header(
    info: Any, backend: Any, smoothing: Any, crop: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The header of one output: info is a SourceInfo, backend a PoseBackend, smoothing a SmoothingConfig."""
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "tpt-live", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": backend.model_name, "digest": backend.model_digest, "input_size": backend.input_size},
        "backend": {"name": backend.name, "precision": backend.precision, "flip": backend.flip},
        "source": {
            "uri": info.uri,
            "kind": info.kind,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "time_base": info.time_base,
            "frame_count": info.frame_count,
            "live": info.live,
        },
        "keypoints": list(JOINT_NAMES),
        "skeleton": [list(b) for b in BONE_INDEX],
        "conventions": CONVENTIONS,
        "smoothing": {
            "filter": "one-euro",
            "enabled": smoothing.enabled,
            "min_cutoff": smoothing.min_cutoff,
            "beta": smoothing.beta,
            "d_cutoff": smoothing.d_cutoff,
        },
        "crop": crop,
        **(extra or {}),
    }


def _points(a: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2), round(float(s), 4)] for x, y, s in a]


def _points3d(a: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 4) for v in p] for p in a]


def record(result: Result) -> dict[str, Any]:
    """One frame's record (see CONVENTIONS); keypoints only on status ok."""
    f = result.frame
    rec: dict[str, Any] = {"idx": f.idx, "t": round(f.t, 6), "status": f.status}
    if f.status == "ok" and result.kp2d is not None and result.kp2d_raw is not None:
        rec["kp2d"] = _points(result.kp2d)
        rec["kp2d_raw"] = _points(result.kp2d_raw)
        if result.kp3d is not None and result.kp3d_raw is not None:
            rec["kp3d"] = _points3d(result.kp3d)
            rec["kp3d_raw"] = _points3d(result.kp3d_raw)
        if result.box is not None:
            rec["box"] = [round(v, 2) for v in result.box.as_list()]
        if result.location is not None:
            loc = result.location
            rec["head"] = HEADS[round(result.turn / 90.0) % 4]
            rec["location"] = [round(v, 2) for v in (loc.x, loc.y, loc.length, loc.angle)] + [round(loc.score, 4)]
    return rec


class Writer(Protocol):
    path: Path  # the file or folder written

    def write(self, rec: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class JsonWriter:
    """One JSON document: the header's fields plus `frames`, valid on disk after every flush.

    Each record is written over the closing bytes, which are then written again after it; `close` seals the
    document at the end of the last whole record, so a Ctrl-C that lands between the two writes (the signal
    interrupts Python between any two steps) still leaves valid JSON."""

    TAIL = b"\n]}\n"

    def __init__(self, path: Path, header: dict[str, Any], flush_every: float = 0.25) -> None:
        self.path, self.flush_every = path, flush_every
        self._f: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        head = json.dumps(header, indent=1)[:-2] + ',\n "frames": ['
        self._f.write(head.encode())
        self._end = self._f.tell()  # the end of the last whole record (or of the head)
        self._first, self._last_flush = True, 0.0
        self._seal()

    def _seal(self) -> None:
        self._f.seek(self._end)
        self._f.write(self.TAIL)
        self._f.seek(self._end)

    def write(self, rec: dict[str, Any]) -> None:
        data = ("\n" if self._first else ",\n").encode() + json.dumps(rec, separators=(",", ":")).encode()
        self._f.seek(self._end)
        self._f.write(data)
        self._end += len(data)
        self._first = False
        self._seal()
        now = time.monotonic()
        if now - self._last_flush > self.flush_every:
            self._f.flush()
            self._last_flush = now

    def close(self) -> None:
        if not self._f.closed:
            self._seal()
            self._f.truncate(self._end + len(self.TAIL))
            self._f.close()


class JsonlWriter:
    """The header on the first line, then one record per line, each flushed as it is written."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self._f = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._f.write(json.dumps(header, separators=(",", ":")) + "\n")
        self._f.flush()

    def write(self, rec: dict[str, Any]) -> None:
        self._f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


CSV_COLUMNS = ("idx", "t", "status", "joint", "x", "y", "score", "x_raw", "y_raw", "x3d", "y3d", "z3d")


class CsvWriter:
    """Long format: one row per (frame, joint); a single row with an empty joint for frames without poses.

    The header goes to a sidecar `<file>.meta.json`.
    """

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        Path(f"{path}.meta.json").write_text(json.dumps(header, indent=1) + "\n")
        self._f = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._w = csv.writer(self._f)
        self._w.writerow(CSV_COLUMNS)

    def write(self, rec: dict[str, Any]) -> None:
        base = [rec["idx"], rec["t"], rec["status"]]
        if "kp2d" not in rec:
            self._w.writerow(base + [""] * (len(CSV_COLUMNS) - 3))
            return
        kp3d = rec.get("kp3d") or [["", "", ""]] * len(JOINT_NAMES)
        for name, p, raw, p3 in zip(JOINT_NAMES, rec["kp2d"], rec["kp2d_raw"], kp3d, strict=True):
            self._w.writerow([*base, name, p[0], p[1], p[2], raw[0], raw[1], *p3])
        self._f.flush()

    def close(self) -> None:
        self._f.close()


class OpenPoseWriter:
    """A folder of `<name>_<idx:012d>_keypoints.json` files (OpenPose layout, our 16 joints in
    header order, not BODY_25), plus `header.json`. Frames without a pose have no people."""

    def __init__(self, path: Path, header: dict[str, Any], name: str) -> None:
        self.path, self.name = path, name
        path.mkdir(parents=True, exist_ok=True)
        (path / "header.json").write_text(json.dumps(header, indent=1) + "\n")

    def write(self, rec: dict[str, Any]) -> None:
        people = []
        if "kp2d" in rec:
            person: dict[str, Any] = {
                "person_id": [-1],
                "pose_keypoints_2d": [v for p in rec["kp2d"] for v in p],
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": [],
                "hand_right_keypoints_2d": [],
                "pose_keypoints_3d": [v for p in rec.get("kp3d") or [] for v in (*p, 1.0)],
            }
            people.append(person)
        doc = {"version": 1.3, "people": people, "idx": rec["idx"], "t": rec["t"], "status": rec["status"]}
        (self.path / f"{self.name}_{rec['idx']:012d}_keypoints.json").write_text(json.dumps(doc))

    def close(self) -> None:
        pass


class CocoWriter:
    """COCO keypoint results for one video, written at close (atomically): `info` holds our header."""

    def __init__(self, path: Path, header: dict[str, Any], name: str) -> None:
        self.path, self.name, self.header = path, name, header
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def write(self, rec: dict[str, Any]) -> None:
        src = self.header["source"]
        image_id = rec["idx"]
        self.images.append(
            {
                "id": image_id,
                "file_name": f"{self.name}/{image_id:06d}",
                "width": src["width"],
                "height": src["height"],
                "frame_index": image_id,
                "t": rec["t"],
                "status": rec["status"],
            }
        )
        if "kp2d" not in rec:
            return
        kp = np.asarray(rec["kp2d"], dtype=np.float64)
        x0, y0 = kp[:, :2].min(axis=0)
        x1, y1 = kp[:, :2].max(axis=0)
        self.annotations.append(
            {
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "category_id": 1,
                "keypoints": [v for x, y, _ in rec["kp2d"] for v in (x, y, 2)],
                "keypoint_scores": [p[2] for p in rec["kp2d"]],
                "num_keypoints": len(rec["kp2d"]),
                "score": round(float(kp[:, 2].mean()), 4),
                "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
            }
        )

    def close(self) -> None:
        doc = {
            "info": self.header,
            "images": self.images,
            "annotations": self.annotations,
            "categories": [
                {
                    "id": 1,
                    "name": "person",
                    "supercategory": "person",
                    "keypoints": list(JOINT_NAMES),
                    "skeleton": [[a + 1, b + 1] for a, b in BONE_INDEX],
                }
            ],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, self.path)


def guess_format(out: Path, fmt: str | None, many: bool = False) -> str:
    """The format from --format, else from the output's suffix (.json, .jsonl, .csv), else json. A single
    output file with another suffix is refused (InputError) rather than written as JSON under that name."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
        return fmt
    suffix = out.suffix.lower().lstrip(".")
    if suffix in ("json", "jsonl", "csv"):
        return suffix
    if suffix and not many and not out.is_dir():
        raise InputError(
            f"--out {out}: unknown suffix .{suffix}; name a .json, .jsonl or .csv file, give --format, "
            "or end a folder's name with /"
        )
    return "json"


def output_path(out: Path, fmt: str, name: str, many: bool) -> Path:
    """Where one source's output goes: `out` itself for a single source given a file name (or, for
    openpose, a folder); else `out/<name>.<ext>` (openpose: `out/<name>/`)."""
    ext = "json" if fmt == "coco" else fmt
    if fmt == "openpose":
        return out / name if many else out
    if many or out.is_dir() or not out.suffix:
        return out / f"{name}.{ext}"
    return out


def ensure_folder(folder: Path, option: str, path: Path | None = None) -> None:
    """Create `folder` (and its parents) for `option`'s output; InputError naming the fix when it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        shown = path if path is not None else folder
        why = "a file is in the way" if isinstance(exc, (FileExistsError, NotADirectoryError)) else exc.strerror
        raise InputError(f"{option} {shown}: cannot create the folder {folder} ({why}); pick a writable path") from None


def open_writer(fmt: str, path: Path, header: dict[str, Any], name: str) -> Writer:
    """A writer for one source; creates parent folders. InputError when the path cannot be written."""
    ensure_folder(path if fmt == "openpose" else path.parent, "--out", path)
    if path.is_dir() and fmt != "openpose":
        raise InputError(f"--out {path} is a folder; give a file name (e.g. {path / 'poses.json'})")
    try:
        return _writer(fmt, path, header, name)
    except OSError as exc:
        raise InputError(f"--out {path}: cannot be written ({exc.strerror}); pick a writable path") from None


def _writer(fmt: str, path: Path, header: dict[str, Any], name: str) -> Writer:
    if fmt == "json":
        return JsonWriter(path, header)
    if fmt == "jsonl":
        return JsonlWriter(path, header)
    if fmt == "csv":
        return CsvWriter(path, header)
    if fmt == "openpose":
        return OpenPoseWriter(path, header, name)
    if fmt == "coco":
        return CocoWriter(path, header, name)
    raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")

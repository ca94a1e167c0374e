"""Export a checkpoint to ONNX: uint8 NHWC frames in, named pose outputs out, dynamic batch.

Graph: frames (B, S, S, 3) uint8 RGB -> permute + normalise -> regressor -> warp-free read-out ->
`affines` (B, K, 2, 3), `keypoints` (B, J, 2), `consistency` (B, J), all float32 in model-input pixels
(x=col, y=row, pixel centres at integers; affines map template -> image), and, when a lifter is
present (the shipped one by default), `kp3d` (B, J, 3) float32 metres, root-relative, camera axes
(tpt_live.lifter.KeypointLifter). The model file's provenance travels in the ONNX `metadata_props`
(see `METADATA_KEYS`).

A temporal lifter (window W > 1, docs/LIFTING.md) adds two inputs and keeps the graph stateless:
`kp_history` (W - 1, J, 2) float32, the track's previous W - 1 `keypoints` rows (model-input pixels,
oldest first: the graph's own output fed back), and `track_start` (1,) float32, 1 on the first call of a
track (the history is ignored, every earlier frame taken to be the batch's first), else 0. The B rows of
`frames` are consecutive frames of that one track (tpt_live.lifter.WindowLift; the backends keep the
history per track with tpt_live.backend.KeypointHistory, as the PyTorch backend's LiftStream does).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from pathlib import Path

import onnx
import torch
from google.protobuf.message import DecodeError
from torch import Tensor, nn

from tpt_live import __version__
from tpt_live.checkpoint import file_digest, load_model, model_label, resolve_model_file
from tpt_live.errors import ModelError
from tpt_live.lifter import KeypointLifter, Lifter, TemporalLifter, WindowLift, load_default_lifter, load_lifter
from tpt_live.model import TptModel, normalise
from tpt_live.skeleton import JOINT_NAMES

log = logging.getLogger(__name__)

FORMAT = "tpt-live/onnx"
FORMAT_VERSION = 1
INPUT_NAME = "frames"
HISTORY_INPUTS = ("kp_history", "track_start")  # inputs of a graph with a temporal lifter
OUTPUT_NAMES = ("affines", "keypoints", "consistency")
LIFTED_OUTPUT = "kp3d"
OPSET = 17
METADATA_KEYS = (
    "format",  # FORMAT
    "format_version",  # FORMAT_VERSION
    "tool_version",  # tpt_live.__version__ that wrote the file
    "keypoint_names",  # JSON list, tpt_live.skeleton.JOINT_NAMES
    "input_size",  # S
    "input_layout",  # "NHWC uint8 RGB"
    "template_digest",  # Template.digest()
    "template",  # Template.to_dict() as JSON: the overlay draws the part ellipses from it
    "framing",  # ModelConfig.framing: "located" models see the localiser's upright crop (`track` locates)
    "model_name",  # checkpoint file name
    "model_digest",  # checkpoint.file_digest of the checkpoint
    "precision",  # "fp32": the graph's arithmetic
    "lifter",  # JSON of the lifter's config and training, "" when the graph has no kp3d output
    "flip",  # "1" when the graph averages each frame with its mirror image (`TptModel.regress`), else "0"
)


class FramesToPoses(nn.Module):
    """uint8 (B, S, S, 3) RGB frames -> (affines, keypoints, consistency[, kp3d]): the exported graph.

    With a temporal lifter it also takes (kp_history (W - 1, J, 2), track_start (1,)) (module docstring).
    """

    def __init__(self, model: TptModel, lifter: Lifter | None = None, flip: bool = False) -> None:
        super().__init__()
        self.model = model
        self.flip = flip
        self.lifter = KeypointLifter(lifter) if lifter is not None and not isinstance(lifter, TemporalLifter) else None
        self.window = WindowLift(lifter) if isinstance(lifter, TemporalLifter) else None

    def forward(
        self, frames: Tensor, kp_history: Tensor | None = None, track_start: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        out = self.model.read_out(self.model.regress(normalise(frames.permute(0, 3, 1, 2)), self.flip))
        if self.window is not None:
            if kp_history is None or track_start is None:
                raise ValueError("a temporal lifter's graph needs kp_history and track_start")
            return out.affines, out.keypoints, out.consistency, self.window(out.keypoints, kp_history, track_start)
        if self.lifter is None:
            return out.affines, out.keypoints, out.consistency
        return out.affines, out.keypoints, out.consistency, self.lifter(out.keypoints)


def _lifter_meta(lifter: Lifter) -> dict:
    """The lifter file's metadata (config, training) without its format tag; the config (window included)
    also for a lifter made in memory."""
    return {"config": dataclasses.asdict(lifter.cfg)} | {k: v for k, v in lifter.metadata.items() if k != "format"}


def _metadata(model: TptModel, model_name: str, model_digest: str, lifter: Lifter | None, flip: bool) -> dict[str, str]:
    return {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "tool_version": __version__,
        "keypoint_names": json.dumps(list(JOINT_NAMES)),
        "input_size": str(model.cfg.input_size),
        "input_layout": "NHWC uint8 RGB",
        "template_digest": model.template.digest(),
        "template": json.dumps(model.template.to_dict()),
        "framing": model.cfg.framing,
        "model_name": model_name,
        "model_digest": model_digest,
        "precision": "fp32",
        "lifter": json.dumps(_lifter_meta(lifter)) if lifter else "",
        "flip": "1" if flip else "0",
    }


def export_model(
    model: TptModel,
    out: str | Path,
    model_name: str = "in-memory",
    model_digest: str = "none",
    exporter: str = "legacy",
    lifter: Lifter | None = None,
    flip: bool = False,
) -> Path:
    """Write `model` (eval mode, CPU) as ONNX to `out`; returns the path. With `lifter`, adds `kp3d` (and,
    for a temporal lifter, the inputs `HISTORY_INPUTS`); with `flip`, test-time flip averaging in the graph.

    exporter: "legacy" (TorchScript tracing, the default: no warp in the graph, measured faster to
    export and equal at run time) or "dynamo" (needs onnxscript).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    s = model.cfg.input_size
    example = torch.randint(0, 256, (2, s, s, 3), dtype=torch.uint8)  # batch >= 2 keeps it dynamic
    lifter = lifter.cpu().eval() if lifter is not None else None
    wrapper = FramesToPoses(model, lifter, flip).eval()
    inputs, outputs = [INPUT_NAME], list(OUTPUT_NAMES) + ([LIFTED_OUTPUT] if lifter is not None else [])
    args: tuple[Tensor, ...] = (example,)
    if isinstance(lifter, TemporalLifter):
        inputs += HISTORY_INPUTS
        history = torch.rand(lifter.cfg.window - 1, len(JOINT_NAMES), 2) * s
        args = (example, history, torch.zeros(1))
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            if exporter == "legacy":
                axes = {n: {0: "batch"} for n in (INPUT_NAME, *outputs)}
                shape_args: dict = {"dynamic_axes": axes, "opset_version": OPSET, "dynamo": False}
            elif exporter == "dynamo":
                batch = {0: torch.export.Dim("batch", min=1, max=4096)}
                shapes = {n: batch if n == INPUT_NAME else None for n in inputs}  # the history: fixed shapes
                shape_args = {"dynamic_shapes": shapes, "dynamo": True, "verbose": False}
            else:
                raise ValueError(f"unknown exporter {exporter!r}")
            torch.onnx.export(wrapper, args, str(out), input_names=inputs, output_names=outputs, **shape_args)
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as exc:
        raise ModelError(f"ONNX export of {model_name} failed: {exc}") from exc
    proto = onnx.load(str(out))
    onnx.helper.set_model_props(proto, _metadata(model, model_name, model_digest, lifter, flip))
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(out))
    log.info("wrote %s (%s exporter, opset %d)", out, exporter, proto.opset_import[0].version)
    return out


def export_onnx(
    model: str | Path | None,
    out: str | Path,
    exporter: str = "legacy",
    lifter: str | Path | None | bool = None,
    flip: bool = False,
) -> Path:
    """Export a checkpoint file (None = the shipped model) to ONNX at `out`.

    lifter: a lifter file; None = the shipped lifter when present (output `kp3d`); False = none.
    flip: test-time flip averaging in the graph (`TptModel.regress`).
    """
    path = resolve_model_file(model)
    tpt = load_model(path)
    name = model_label(path)
    if lifter is None or lifter is True:
        lift = load_default_lifter(tpt.template.name)
    else:
        lift = load_lifter(lifter) if lifter else None
    if flip:
        tpt.check_flip()
    digest = file_digest(path)
    return export_model(tpt, out, model_name=name, model_digest=digest, exporter=exporter, lifter=lift, flip=flip)


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The `metadata_props` of an ONNX file written by `export_model` (weights are not loaded)."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (OSError, DecodeError) as exc:
        raise ModelError(f"{path} is not a readable ONNX file ({exc})") from exc
    return {p.key: p.value for p in proto.metadata_props}

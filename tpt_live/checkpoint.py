"""Self-describing weights files: one safetensors file whose metadata (key `tpt_live`) holds a JSON object
with the format name and version, the config and metrics (2D models also the template), plus the same
JSON as a human-readable sidecar `X.json`. `write_weights` / `read_meta` serve every kind of weights:
the 2D model (`tpt-live/model`), the lifter (`tpt-live/lifter`) and the presence net (`tpt-live/presence`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError

from tpt_live.errors import InputError, ModelError
from tpt_live.template import Template

if TYPE_CHECKING:  # PyTorch is imported where weights are loaded or saved: reading metadata needs none
    import torch

    from tpt_live.model import ModelConfig, TptModel

FORMAT = "tpt-live/model"
FORMAT_VERSION = 1
# Shipped 2D models by name (`--model NAME`, `--init NAME`): the default (EfficientNet-Lite0, 128 px, located
# crops, pretrained on synthetic ground truth), the purely unsupervised 64-px TPT model (docs/TRAINING.md), and
# the monitor's handedness model: the default's recipe on renders with prone bodies, which tells a prone infant's
# left from right (docs/MONITOR.md, "A second model for the back"), and the monitor's own 2D model: the default
# until stop 36, whose keypoints the monitor's posture cue was measured on (docs/MONITOR.md, "Two 2D models").
SHIPPED_MODELS = ("default", "tpt64", "handedness", "monitor")
MONITOR_MODEL = "monitor"  # `tpt-live monitor` without --model
# Shipped lifters (`tpt_live.lifter`), by file name.
DEFAULT_LIFTER = "lifter.safetensors"
DEFAULT_SUPERVISED = "lifter_supervised.safetensors"
DEFAULT_UPRIGHT = "lifter_upright.safetensors"  # adults (docs/LIFTING.md: trained on real motion capture)
# the infant lifter whose 3D torso the monitor's posture cue reads (docs/MONITOR.md): the mat-prior file the
# tracker shipped until the roll-invariant one replaced it (docs/LIFTING.md, "Shipped files")
DEFAULT_POSTURE_LIFTER = "lifter_posture.safetensors"
UPRIGHT_TEMPLATES = ("tpose", "arms_down")  # the adult keypoint templates: their models get the upright lifter


def write_weights(path: str | Path, tensors: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write `tensors` (torch tensors or numpy arrays) and `meta` (with "format", "format_version") to
    `path` (.safetensors) and its JSON sidecar; returns the safetensors path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"tpt_live": json.dumps(meta)}
    tmp = path.with_name(path.name + ".tmp")  # written whole, then renamed: a crash never leaves half a file
    if not any(isinstance(t, np.ndarray) for t in tensors.values()):
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=header)
    else:
        from safetensors.numpy import save_file as save_numpy

        save_numpy({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=header)
    tmp.replace(path)
    sidecar = path.with_suffix(".json")
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    tmp.replace(sidecar)
    return path


def read_meta(path: str | Path, fmt: str, version: int, what: str) -> dict[str, Any]:
    """The metadata of a weights file of format `fmt` (at most `version`), without loading the weights.
    Raises InputError for a missing file (a bad argument, exit 2) and ModelError naming `what` (e.g.
    "model", "lifter") for unreadable or foreign files (exit 4)."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise InputError(f"{what} file {path} does not exist; check the path")

    try:
        with safe_open(str(path), framework="np") as f:
            raw = (f.metadata() or {}).get("tpt_live")
        data = json.loads(raw) if raw else None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable tpt-live {what} file ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} is a safetensors file without tpt-live metadata; it is not a {what} file")
    if data.get("format") != fmt or int(data.get("format_version", 0)) > version:
        raise ModelError(
            f"{path}: not a tpt-live {what} file of version <= {version} "
            f"(format {data.get('format')} v{data.get('format_version')})"
        )
    return data


def describe(model: TptModel, metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict:
    """The metadata that travels with a model."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": dataclasses.asdict(model.cfg),
        "template": model.template.to_dict(),
        "template_digest": model.template.digest(),
        "metrics": metrics or {},
        **(extra or {}),
    }


def save_model(model: TptModel, path: str | Path, metrics: dict | None = None, extra: dict | None = None) -> Path:
    """Write `path` (.safetensors) and `path.with_suffix('.json')`; returns the safetensors path."""
    return write_weights(path, dict(model.state_dict()), describe(model, metrics, extra))


def shipped_file(filename: str) -> Path:
    """A file of the weights shipped inside the package (`tpt_live/weights/`; it may be absent)."""
    return Path(str(resources.files("tpt_live.weights").joinpath(filename)))


def default_model_path(name: str = "default") -> Path:
    """A model shipped inside the package (`SHIPPED_MODELS`; the default one unless named)."""
    return shipped_file(f"{name}.safetensors")


def default_lifter_path(supervised: bool = False, template: str | None = None) -> Path:
    """The lifter shipped inside the package for a model of `template` (its name): the upright (adult)
    lifter for `UPRIGHT_TEMPLATES` when shipped, else the infant one (or its supervised upper-bound twin)."""
    name = DEFAULT_SUPERVISED if supervised else DEFAULT_LIFTER
    upright = shipped_file(DEFAULT_UPRIGHT)
    if not supervised and template in UPRIGHT_TEMPLATES and upright.is_file():
        return upright
    return shipped_file(name)


def posture_lifter_path() -> Path:
    """The infant lifter shipped for the monitor's posture cue (`DEFAULT_POSTURE_LIFTER`; it may be absent)."""
    return shipped_file(DEFAULT_POSTURE_LIFTER)


def resolve_model_file(model: str | Path | None) -> Path:
    """Which model file: None = the shipped default; a name of a shipped model (`SHIPPED_MODELS`); else a path.

    The one place that answers this (track, evaluate, export, train --init): raises InputError for a missing
    file and ModelError when the shipped model is absent from this installation.
    """
    name = "default" if model is None else str(model)
    if name in SHIPPED_MODELS:
        path = default_model_path(name)
        if not path.is_file():
            raise ModelError(f"no shipped {name} model in this installation; pass --model PATH")
        return path
    path = Path(model)  # type: ignore[arg-type]  # None is the default, handled above
    if not path.is_file():
        names = ", ".join(repr(n) for n in SHIPPED_MODELS)
        raise InputError(f"model file {path} does not exist; pass a .safetensors, .onnx or .engine file, or {names}")
    return path


def model_or_off(text: str) -> str | None:
    """An option that names a model or turns it off (`--handedness`, `--posture-net`): 'off' (any case, spaces
    around it) -> None, else the text as given (a file or a shipped name)."""
    return None if text.strip().lower() == "off" else text


def model_label(path: Path) -> str:
    """The shipped model's name (`default`, `tpt64`), else the file name (what outputs record as the model)."""
    return next((n for n in SHIPPED_MODELS if path == default_model_path(n)), path.name)


def resolve_device(device: str) -> torch.device:
    """The one device check: 'auto' -> CUDA when available, else CPU; 'cuda' without a GPU raises."""
    import torch

    from tpt_live.errors import BackendUnavailable

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable(f"device {device!r} requested but torch sees no CUDA GPU; use --device cpu")
    if not device.startswith(("cpu", "cuda")):
        raise InputError(f"device {device!r} is not one of auto, cpu, cuda")
    return torch.device(device)


def read_metadata(path: str | Path) -> dict:
    """The metadata of a 2D model file, without loading the weights."""
    return read_meta(path, FORMAT, FORMAT_VERSION, "model")


def config_from_dict(d: dict) -> ModelConfig:
    from tpt_live.model import ModelConfig

    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in fields}
    return ModelConfig(**kwargs)  # type: ignore[arg-type]


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> TptModel:
    """Load a model file (default: the shipped model) in eval mode."""
    from safetensors.torch import load_file

    from tpt_live.model import TptModel

    path = resolve_model_file(path)
    meta = read_metadata(path)
    model = TptModel(config_from_dict(meta["config"]), Template.from_dict(meta["template"]))
    try:
        state = load_file(str(path))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError) as exc:
        raise ModelError(f"{path}: weights do not match the stored config ({exc})") from exc
    model.metadata = meta
    return model.to(device).eval()


def file_digest(path: str | Path) -> str:
    """Short SHA-256 of a file's bytes (model hashes in outputs and engine caches)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]

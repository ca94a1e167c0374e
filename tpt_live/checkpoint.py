"""Self-describing model files: one safetensors file whose metadata holds the format version, the model
config, the template and metrics, plus a human-readable JSON sidecar. One loader serves every command.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tpt_live.errors import InputError, ModelError
from tpt_live.model import ModelConfig, TptModel
from tpt_live.template import Template

FORMAT = "tpt-live/model"
FORMAT_VERSION = 1
DEFAULT_MODEL = "default.safetensors"


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
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = describe(model, metrics, extra)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"tpt_live": json.dumps(meta)})
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return path


def default_model_path() -> Path:
    """The model shipped inside the package."""
    return Path(str(resources.files("tpt_live.weights").joinpath(DEFAULT_MODEL)))


def resolve_model_file(model: str | Path | None) -> Path:
    """Which model file: None = the shipped default; a name of a shipped model (`default`); else a path.

    The one place that answers this (track, evaluate, export, train --init): raises InputError for a missing
    file and ModelError when the shipped model is absent from this installation.
    """
    if model is None or (isinstance(model, str) and model == DEFAULT_MODEL.removesuffix(".safetensors")):
        path = default_model_path()
        if not path.is_file():
            raise ModelError("no shipped default model in this installation; pass --model PATH")
        return path
    path = Path(model)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist; pass a .safetensors, .onnx or .engine file, or 'default'")
    return path


def model_label(path: Path) -> str:
    """`default` for the shipped model, else the file name (what outputs record as the model's name)."""
    return "default" if path == default_model_path() else path.name


def resolve_device(device: str) -> torch.device:
    """The one device check: 'auto' -> CUDA when available, else CPU; 'cuda' without a GPU raises."""
    from tpt_live.errors import BackendUnavailable

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable(f"device {device!r} requested but torch sees no CUDA GPU; use --device cpu")
    if not device.startswith(("cpu", "cuda")):
        raise InputError(f"device {device!r} is not one of auto, cpu, cuda")
    return torch.device(device)


def read_metadata(path: str | Path) -> dict:
    """The metadata of a model file, without loading the weights."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{path} is not a readable tpt-live model ({exc})") from exc
    if "tpt_live" not in meta:
        raise ModelError(f"{path} is a safetensors file without tpt-live metadata")
    data = json.loads(meta["tpt_live"])
    if data.get("format") != FORMAT or data.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path}: unsupported model format {data.get('format')} v{data.get('format_version')}")
    return data


def config_from_dict(d: dict) -> ModelConfig:
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in fields}
    return ModelConfig(**kwargs)  # type: ignore[arg-type]


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> TptModel:
    """Load a model file (default: the shipped model) in eval mode."""
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

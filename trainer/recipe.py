"""Named training recipes: a JSON file of `ModelConfig` and `TrainConfig` settings (as nanoGPT's presets).

    {"model": {"input_size": 64, "template": "infant"}, "train": {"steps": 3000, "batch": 16}}

Settings a recipe leaves out keep the config classes' defaults; options given on the command line override
the recipe. `recipes/tpt64.json` is the exact recipe of the shipped unsupervised model (`tpt64`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tpt_live.errors import InputError
from tpt_live.model import ModelConfig
from trainer.config import TrainConfig, adaptation_layer

SECTIONS = ("model", "train", "about")  # "about": free text (data commands, provenance), not read


def load_recipe(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read and check a recipe file -> {"model": {...}, "train": {...}}. InputError names a bad key or file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"--recipe {path}: cannot read a JSON recipe ({exc})") from None
    if not isinstance(data, dict) or set(data) - set(SECTIONS):
        raise InputError(f"--recipe {path}: expected an object with the sections {', '.join(SECTIONS)}")
    for section, cls in (("model", ModelConfig), ("train", TrainConfig)):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data.get(section, {})) - known
        if unknown:
            raise InputError(f"--recipe {path}: unknown {section} settings {sorted(unknown)}; known: {sorted(known)}")
    return {"model": dict(data.get("model", {})), "train": dict(data.get("train", {}))}


def resolve_recipe(
    recipe: dict[str, dict[str, Any]] | None,
    model: dict[str, Any],
    train: dict[str, Any],
    init: str | Path | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """Defaults < the adaptation layer (`trainer.config.adaptation_layer`: with `init`, the shipped decoder with
    the shipped default model and the default decoder widths, and for a time bound without steps) < recipe <
    options given; with `init` the model file decides the architecture (input size, widths, backbone, head) and
    its framing. `train` holds only options the user gave (`gap_s` None: any two frames, over the adaptation
    default)."""
    recipe = recipe or {"model": {}, "train": {}}
    model_settings = {**recipe["model"], **model}
    if init is not None:
        from tpt_live.checkpoint import read_metadata

        config = read_metadata(init)["config"]
        kept = ("input_size", "widths", "hidden", "backbone", "head", "framing")  # the architecture, what it sees
        model_settings.update({k: config[k] for k in kept if k in config})
    if "widths" in model_settings:
        model_settings["widths"] = tuple(model_settings["widths"])
    chosen = {**recipe["train"], **train}
    widths = chosen.get("decoder_widths", TrainConfig.decoder_widths)
    layer = adaptation_layer(init is not None, chosen, init is not None and _shipped_decoder_fits(init, widths))
    return ModelConfig(**model_settings), TrainConfig(**{**layer, **chosen})


def _shipped_decoder_fits(init: str | Path, widths: Any) -> bool:
    """Whether `init` is the shipped default model and the decoder shipped beside it was saved for `widths` and
    trained from that very file (its header's `init_digest`; the decoder was trained with that model's regressor,
    so other starting models, a default replaced since, or other widths begin with a fresh decoder)."""
    from tpt_live.checkpoint import default_model_path, file_digest, read_meta, shipped_file
    from trainer.decoder import DECODER_FORMAT, DECODER_VERSION

    decoder, model = shipped_file("decoder.safetensors"), default_model_path()
    if not decoder.is_file() or Path(init).resolve() != model.resolve():
        return False
    meta = read_meta(decoder, DECODER_FORMAT, DECODER_VERSION, "decoder")
    same_widths = meta.get("config", {}).get("decoder_widths") == list(widths)
    return same_widths and meta.get("init_digest") == file_digest(model)


def recipe_of(model_cfg: ModelConfig, train_cfg: TrainConfig) -> dict[str, dict[str, Any]]:
    """The settings that differ from the defaults, as a recipe (what a run folder's recipe.json holds)."""

    def changed(obj: Any, default: Any) -> dict[str, Any]:
        return {
            f.name: getattr(obj, f.name)
            for f in dataclasses.fields(obj)
            if getattr(obj, f.name) != getattr(default, f.name)
        }

    return {"model": changed(model_cfg, ModelConfig()), "train": changed(train_cfg, TrainConfig())}

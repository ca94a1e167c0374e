"""Training recipes: the shipped recipe file reproduces the shipped unsupervised model (tpt64); options override it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tpt_live.checkpoint import default_model_path, read_metadata
from tpt_live.errors import InputError
from trainer.config import TrainConfig
from trainer.recipe import load_recipe, recipe_of, resolve_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_default_recipe_is_the_shipped_models_training_config():
    model_cfg, cfg = resolve_recipe(load_recipe(ROOT / "recipes" / "tpt64.json"), {}, {})
    meta = read_metadata(default_model_path("tpt64"))  # the unsupervised model recipes/tpt64.json trains
    stored = meta["train"]["train_config"]
    resolved = dataclasses.asdict(cfg)
    assert {k: resolved[k] for k in stored} == stored
    # settings added after the shipped run keep defaults that reproduce it (no background weighting, pairs
    # from any two frames, no turn)
    later = {k: v for k, v in resolved.items() if k not in stored}
    assert later == {k: v for k, v in dataclasses.asdict(TrainConfig()).items() if k in later}
    assert later.get("background") is False and later.get("gap_s") is None and later.get("init_rotation") == 0.0
    shipped = meta["config"]
    assert (model_cfg.input_size, list(model_cfg.widths), model_cfg.hidden, model_cfg.template) == (
        shipped["input_size"], shipped["widths"], shipped["hidden"], shipped["template"],
    )  # fmt: skip


def test_defaults_then_recipe_then_options(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"model": {"input_size": 32, "widths": [8, 16]}, "train": {"steps": 7, "lr": 1e-3}}))
    model_cfg, cfg = resolve_recipe(load_recipe(path), {"input_size": 64}, {"lr": 5e-3})
    assert (model_cfg.input_size, model_cfg.widths) == (64, (8, 16))
    assert (cfg.steps, cfg.lr, cfg.batch) == (7, 5e-3, TrainConfig.batch)
    assert recipe_of(model_cfg, cfg) == {"model": {"widths": (8, 16)}, "train": {"steps": 7, "lr": 5e-3}}


@pytest.mark.parametrize(
    "text", ['{"train": {"stepz": 3}}', '{"optim": {}}', "not json", '{"model": {"input_size": 30}}']
)
def test_bad_recipes_are_input_errors(tmp_path, text):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(InputError):
        resolve_recipe(load_recipe(path), {}, {})


def test_the_from_scratch_recipe_builds_a_spatial_effnet_model_on_tpt64s_schedule():
    model_cfg, cfg = resolve_recipe(load_recipe(ROOT / "recipes" / "scratch_spatial.json"), {}, {})
    assert (model_cfg.backbone, model_cfg.head, model_cfg.input_size) == ("effnet", "spatial", 64)
    _, tpt64 = resolve_recipe(load_recipe(ROOT / "recipes" / "tpt64.json"), {}, {})
    assert cfg == tpt64  # only the network differs from the shipped unsupervised recipe


def test_the_decoder_recipe_trains_only_a_fresh_decoder_beside_the_shipped_regressor():
    from trainer.config import TrainConfig

    _, cfg = resolve_recipe(load_recipe(ROOT / "recipes" / "decoder.json"), {}, {}, init=default_model_path())
    assert cfg.decoder_init is None  # not from the shipped decoder it makes
    assert cfg.freeze_steps == cfg.steps == 600 and cfg.minutes is None  # the regressor never learns
    assert cfg.decoder_widths == TrainConfig().decoder_widths and cfg.background and cfg.window_s == 3.0


def test_the_shipped_decoder_was_trained_beside_the_shipped_default_model():
    """Adaptation (`tpt-live train --init default`) starts from the shipped decoder only while its header names the
    shipped default file it was trained beside (`init_digest`): a default replaced or re-headed without a decoder
    trained anew would silently start adaptation from a fresh decoder."""
    from trainer.recipe import _shipped_decoder_fits

    assert _shipped_decoder_fits(default_model_path(), TrainConfig().decoder_widths)

"""Resuming a training run from OUT/last.pt, with one-line errors for files that cannot be resumed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from tpt_live.errors import ModelError
from trainer.losses import load_failure


def resume_from(last: Path, module: Any, opt: torch.optim.Optimizer, dev: torch.device) -> int:
    """Load OUT/last.pt into the module and optimiser; the step it was written at. ModelError when the
    file is not a checkpoint of this trainer or was written for another model (another --size, template)."""
    try:
        state = torch.load(last, map_location=dev, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling, truncation and zip errors all mean the same here
        raise ModelError(
            f"{last}: not a readable training checkpoint ({load_failure(exc)}); delete it or drop --resume"
        ) from None
    if not isinstance(state, dict) or not {"model", "decoder", "optim", "step"} <= state.keys():
        raise ModelError(f"{last}: not a tpt-live training checkpoint; delete it or drop --resume")
    try:
        module.model.load_state_dict(state["model"])
        module.decoder.load_state_dict(state["decoder"])
        opt.load_state_dict(state["optim"])
    except (RuntimeError, KeyError, ValueError) as exc:
        text = " ".join(str(exc).split())
        found = re.search(r"size mismatch for ([\w.]+): copying a param with shape torch.Size\((\[[^]]*\])\) from "
                          r"checkpoint, the shape in current model is torch.Size\((\[[^]]*\])\)", text)  # fmt: skip
        first = f"{found[1]} is {found[2]} there, {found[3]} here" if found else text[:160]
        raise ModelError(
            f"{last} was written for another model ({first}); resume with that run's --size and --template, "
            "or train into a new --out"
        ) from None
    return int(state["step"])

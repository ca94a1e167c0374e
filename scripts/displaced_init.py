"""Write an untrained model whose parts start displaced: the stress start of the boundary-loss ablation.

The regressor's last layer is zero-initialised, so a new model starts exactly at the template and (in every
realistic setting measured in docs/TRAINING.md) no anchor ever leaves the image: the boundary loss stays 0.
This script gives the last layer's bias a seeded random value instead, so that at step 0 each part is
shifted by up to `--shift` x the image size in x and y and its 2x2 matrix perturbed by up to `--linear`:
some parts start outside the image, which is the situation the boundary loss exists for. `--body-shift DX DY`
adds one translation to every part (fractions of the image size): the whole body starts out of view with its
links intact, as after the drift that sank the paper's run without the boundary loss (METHOD.md 1.5). Train
from it with `tpt-live train ... --init FILE`.

    python scripts/displaced_init.py runs/displaced_init.safetensors --shift 0.35 --linear 0.2 --seed 0
    python scripts/displaced_init.py runs/drifted_init.safetensors --shift 0 --linear 0 --body-shift 1.0 0
"""

from __future__ import annotations

import argparse

import torch

from tpt_live.checkpoint import save_model
from tpt_live.model import ModelConfig, TptModel
from tpt_live.template import load_template


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="model file to write (.safetensors)")
    ap.add_argument("--shift", type=float, default=0.35, help="max translation, fraction of the image size")
    ap.add_argument("--linear", type=float, default=0.2, help="max perturbation of each 2x2 matrix entry")
    ap.add_argument(
        "--body-shift",
        type=float,
        nargs=2,
        default=(0.0, 0.0),
        metavar=("DX", "DY"),
        help="translation of the whole body, fractions of the image size",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=ModelConfig().input_size, help="model input size")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    cfg = ModelConfig(input_size=args.size)
    model = TptModel(cfg, load_template(cfg.template))
    k = model.template.num_parts
    # head output per part: a (2, 3) delta; the translation column is multiplied by the image size
    delta = (torch.rand(k, 2, 3) * 2 - 1) * torch.tensor([args.linear, args.linear, args.shift])
    delta[:, :, 2] += torch.tensor(args.body_shift)
    with torch.no_grad():
        model.regressor.head.bias.copy_(delta.flatten())
    path = save_model(model, args.out, extra={"displaced_init": vars(args)})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

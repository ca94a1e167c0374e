"""Write a copy of a model whose every pose is turned about the input's centre (no training).

    python scripts/rotate_model.py default rotated90.safetensors --degrees 90

The baseline for `tpt-live train --init-rotation`: what the turn alone does, before any adaptation
(`trainer.orient.rotate_model`; +90 = head-up to head-left, counterclockwise on screen).
"""

from __future__ import annotations

import argparse

from tpt_live.checkpoint import load_model, resolve_model_file, save_model
from trainer.orient import rotate_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model file or `default`")
    parser.add_argument("out")
    parser.add_argument("--degrees", type=float, required=True)
    args = parser.parse_args()
    model = load_model(resolve_model_file(args.model))
    rotate_model(model, args.degrees)
    meta = model.metadata
    save_model(
        model, args.out, metrics=meta.get("metrics"), extra={"rotated_from": args.model, "degrees": args.degrees}
    )
    print(f"{args.out}: {args.model} turned by {args.degrees:g} degrees")


if __name__ == "__main__":
    main()

"""Write one posture file from nets trained one by one (no training): the file `tpt-live train-posture --members K`
writes, for members trained apart, e.g. in parallel on several machines or processes.

    tpt-live train-posture --out m0.safetensors --members 1 --seed 0
    tpt-live train-posture --out m1.safetensors --members 1 --seed 1      # at the same time, elsewhere
    python scripts/combine_posture.py OUT.safetensors m0.safetensors m1.safetensors

Member i must be member 0's recipe on seed + i (`trainer.posture_train.ensemble_of` checks the stored recipes and
renders member 0's calibration scenes for the ensemble's held-out figures). With the same recipe and the same
`--threads` per member, the weights are those `--members K` trains (PyTorch's CPU results depend on the thread
count); docs/MONITOR.md, "Three times the data per classifier", made a file so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tpt_live.cli.common import output_file
from tpt_live.errors import TptError
from tpt_live.monitor.posture_image import load_posture, save_posture
from trainer.posture_train import ensemble_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("files", nargs="+", help="posture weights files, their members kept in this order")
    args = parser.parse_args()
    try:
        output_file(args.out, "OUT")  # before the held-out scenes are rendered
        members = tuple(m for f in args.files for m in load_posture(f).members)  # type: ignore[union-attr]
        ens = ensemble_of(members)
        path = save_posture(ens, Path(args.out))
    except TptError as exc:  # a missing or foreign file, members of other recipes, an unwritable OUT: one line
        raise SystemExit(f"error: {exc}") from None
    print(f"{path}: {len(ens.members)} members from {len(args.files)} files; held out {ens.metrics['held_out']}")


if __name__ == "__main__":
    main()

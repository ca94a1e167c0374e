"""Write one presence file holding every member of several (no training).

    python scripts/combine_presence.py OUT.safetensors tpt_live/weights/presence.safetensors NEW.safetensors

The monitor averages the members' calibrated logits (`tpt_live.monitor.presence.PresenceEnsemble`), so the file
acts as one presence net; docs/MONITOR.md says which files the shipped one holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tpt_live.errors import TptError
from tpt_live.monitor.presence import combine_presence, save_presence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("files", nargs="+", help="presence weights files, their members kept in this order")
    args = parser.parse_args()
    try:
        ens = combine_presence(args.files)
    except TptError as exc:  # a missing or foreign file: one line on stderr, exit code 1
        raise SystemExit(f"error: {exc}") from None
    save_presence(ens, Path(args.out))
    print(f"{args.out}: {len(ens.members)} members from {len(args.files)} files")


if __name__ == "__main__":
    main()

"""Print the loss-ablation table (markdown) from finished runs.

Each run directory RUNS/<prefix>_<variant>_s<seed> holds `test.json` (from `tpt-live evaluate ... --json`)
and `metrics.jsonl` (from `tpt-live train`); variants are `full`, `nob` (no boundary loss) and `noa`
(no anchor loss). Rows per seed, then the mean and standard deviation over seeds per variant, and how
many seeds each ablation loses to the full loss on the test set.

    python scripts/ablation_table.py runs --prefix hi
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

VARIANTS = {"full": "full", "nob": "without boundary loss", "noa": "without anchor loss"}
PARTS = ("hips", "knees", "feet", "shoulders", "hands")


def _last_val(metrics: Path) -> float | None:
    val = None
    for line in metrics.read_text().splitlines():
        record = json.loads(line)
        if "val_err_pct" in record:
            val = float(record["val_err_pct"])
    return val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--prefix", default="hi")
    args = parser.parse_args()

    pattern = re.compile(rf"{re.escape(args.prefix)}_({'|'.join(VARIANTS)})_s(\d+)$")
    results: dict[str, dict[int, dict]] = {v: {} for v in VARIANTS}
    for run in sorted(args.runs.iterdir()):
        match = pattern.match(run.name)
        if match and (run / "test.json").is_file():
            test = json.loads((run / "test.json").read_text())
            test["val"] = _last_val(run / "metrics.jsonl")
            results[match.group(1)][int(match.group(2))] = test

    print("| losses | seed | mean % | " + " | ".join(PARTS) + " | PCK@0.05 | val % |")
    print("|---" * (len(PARTS) + 5) + "|")
    for seed in sorted({s for runs in results.values() for s in runs}):
        for variant, label in VARIANTS.items():
            r = results[variant].get(seed)
            if r is None:
                continue
            parts = " | ".join(f"{r['per_part'][p]:.2f}" for p in PARTS)
            val = "" if r["val"] is None else f"{r['val']:.2f}"
            print(f"| {label} | {seed} | {r['mean_error_pct']:.2f} | {parts} | {r['pck@0.05']:.3f} | {val} |")
    print()
    full = results["full"]
    for variant, label in VARIANTS.items():
        errors = [r["mean_error_pct"] for r in results[variant].values()]
        if not errors:
            continue
        spread = f" ± {statistics.stdev(errors):.2f}" if len(errors) > 1 else ""
        line = f"- {label}: mean {statistics.mean(errors):.2f}{spread} % over {len(errors)} seeds"
        if variant != "full":
            paired = [s for s in results[variant] if s in full]
            wins = sum(full[s]["mean_error_pct"] < results[variant][s]["mean_error_pct"] for s in paired)
            line += f"; the full loss is better on {wins} of {len(paired)} seeds"
        print(line)


if __name__ == "__main__":
    main()

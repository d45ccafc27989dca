"""Measure the out-of-distribution check (eai_llm/ood.py): real held-out clips vs corrupted, foreign and procedural
ones, each fold's cue reference fitted on its training clips only (eai_llm/evaluation/ood.py).

    python scripts/evaluate_ood.py --out docs/results/ood-2026-12-03
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "bandai_namco_motion_1"))
    parser.add_argument("--data2", default=str(ROOT.parent / "shared" / "data" / "bandai_namco_motion_2"),
                        help="the second dataset (its content types are held out too); '' for none")
    parser.add_argument("--out", required=True, help="folder for ood.md and ood.json")
    args = parser.parse_args(argv)
    for d in (args.data, args.data2):
        if d and not Path(d).is_dir():
            print(f"{d}: no such data folder", file=sys.stderr)
            return 2
    from eai_llm.evaluation.ood import evaluate_ood

    m = evaluate_ood(args.data, args.data2 or None, args.out)
    print(f"AUROC {m['auroc']:.3f}; real held-out clips flagged: {m['real_flagged']} of {m['real_clips']} "
          f"({Path(args.out) / 'ood.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure a deep ensemble's disagreement as an out-of-distribution score: each leave-one-content-type-out fold's
tokenizer ensemble on its held-out real clips, their corruptions and procedural clips
(eai_llm/evaluation/disagreement.py). Needs the fold ensembles of
`eai-llm evaluate --systems tokenizer-linear-ensemble --out RUN`.

    python scripts/evaluate_disagreement.py --runs RUN/runs/full --out docs/results/disagreement-2026-12-03
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
    parser.add_argument("--runs", required=True, help="the evaluation's fold run folders (<out>/runs/full)")
    parser.add_argument("--out", required=True, help="folder for disagreement.md and disagreement.json")
    parser.add_argument("--data2", default=str(ROOT.parent / "shared" / "data" / "bandai_namco_motion_2"),
                        help="dataset-2, whose clips join every fold's cue reference (as in the bundle's); '' = none")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--groups", nargs="*", default=None, help="only these folds (default: all)")
    args = parser.parse_args(argv)
    for d in (args.data, args.runs):
        if not Path(d).is_dir():
            print(f"{d}: no such folder", file=sys.stderr)
            return 2
    from eai_llm.evaluation.disagreement import evaluate_disagreement

    try:
        m = evaluate_disagreement(args.data, args.runs, args.out, members=args.members, groups=args.groups,
                                  data2=args.data2 if args.data2 and Path(args.data2).is_dir() else None)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 2
    a = m["auroc"]
    print(f"AUROC mutual information {a['mutual_information']:.3f}, 1 - top probability {a['max_prob']:.3f}, cue checks "
          f"{a['cue_checks']:.3f}, shipped check {a['shipped_check']:.3f}; real clips flagged "
          f"{100 * m['flagged']['real']:.1f}% ({Path(args.out) / 'disagreement.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

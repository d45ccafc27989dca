"""What the shipped fusion would read with another tokenizer head: the LLM's own fold probabilities
(`llm-unfused`) pooled log-linearly per clip with a tokenizer system's (`tokenizer-linear`, `-ensemble`, ...) at
the fold models' `fusion_weight`, scored like `eai-llm evaluate` (other folds' temperature). The shipped system
fuses per window; the clip-level pooling is checked against it (fused with `--check` the tokenizer the shipped
system used, the top labels must agree).

    python scripts/fusion_with_heads.py --eval RUN --llm RUN2 --heads tokenizer-linear tokenizer-linear-ensemble
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from dataclasses import replace

    from eai_llm.evaluation.fusion import fuse
    from eai_llm.evaluation.results import FoldResult, summarise

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval", required=True, help="evaluation folder with folds/<head>/ and folds/llm/, runs/full/")
    ap.add_argument("--llm", default=None, help="evaluation folder with folds/llm-unfused/ (default: --eval)")
    ap.add_argument("--heads", nargs="+", default=["tokenizer-linear", "tokenizer-linear-ensemble"])
    ap.add_argument("--check", default="tokenizer-linear", help="the head the shipped system fused with")
    args = ap.parse_args(argv)
    ev, lv = Path(args.eval), Path(args.llm or args.eval)
    groups = sorted(p.stem for p in (lv / "folds" / "llm-unfused").glob("*.json"))
    if not groups:
        print(f"{lv / 'folds' / 'llm-unfused'}: no fold results", file=sys.stderr)
        return 2
    load = lambda folder, s: [FoldResult.load(folder / "folds" / s / f"{g}.json") for g in groups]
    llm, shipped = load(lv, "llm-unfused"), load(ev, "llm")
    w = [json.loads((ev / "runs" / "full" / g / "model" / "config.json").read_text())["fusion_weight"] for g in groups]

    def show(name: str, rs: list) -> None:
        s = summarise(rs)
        m = s["7class"]
        lo, hi = m["accuracy_ci95"]
        print(f"| {name} | {100 * m['accuracy']:.1f}% ({100 * lo:.1f}-{100 * hi:.1f}) | {m['nll']:.3f} | {m['brier']:.3f} | "
              f"{m['ece_mass10']:.3f} | {s['conformal']['lac']['coverage']:.3f} / {s['conformal']['lac']['mean_set_size']:.2f} |")

    print(f"{len(groups)} folds: {', '.join(groups)}\n\n| system | accuracy | NLL | Brier | ECE 10 equal-mass | 90% LAC |\n"
          "| --- | --- | --- | --- | --- | --- |")
    show("LLM alone", llm)
    show("shipped (fused per window)", shipped)
    checks = []
    for head in args.heads:
        fused = [replace(a, probs=fuse(np.asarray(a.probs), np.asarray(b.probs), wt).tolist(), member_probs=None)
                 for a, b, wt in zip(llm, load(ev, head), w)]
        show(f"LLM fused per clip with {head}", fused)
        if head == args.check:
            agree = np.mean([np.argmax(p) == np.argmax(q) for f, s in zip(fused, shipped) for p, q in zip(f.probs, s.probs)])
            checks.append(f"Check: per-clip pooling with {head} gives the shipped top label on {100 * agree:.1f}% of clips.")
    print("", *checks, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

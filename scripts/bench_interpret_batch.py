"""Time `eai-llm interpret DIR --out report.csv` (one process, one model load) against one `eai-llm interpret
CLIP` process per clip, in the same run, and print the ratio.

    python scripts/bench_interpret_batch.py [--model DIR] [--clips demo/examples] [--explain] [--threads 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eai_llm.cli", "interpret", *args], cwd=ROOT, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--clips", default=str(ROOT / "demo" / "examples"))
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--threads", default="1")
    a = ap.parse_args()
    common = (["--model", a.model] if a.model else []) + ["--threads", a.threads] + ([] if a.explain else ["--no-explain"])
    clips = sorted(p for p in Path(a.clips).rglob("*") if p.suffix.lower() in (".bvh", ".npz", ".csv"))
    with tempfile.TemporaryDirectory() as tmp:
        batch = run([*map(str, clips), "--out", str(Path(tmp) / "r.csv"), "--no-progress", *common])
    single = sum(run([str(c), *common]) for c in clips)
    print(f"{len(clips)} clips: one batch process {batch:.1f} s, one process per clip {single:.1f} s, "
          f"ratio {single / batch:.1f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Benchmark the BVH reader against bvhio (an independent pure-Python implementation).

Loads every ``*.bvh`` under DATA (default: ``../shared/data`` beside the project, searched
recursively) with ``eai_llm.skeleton.io.load_clip`` and with ``bvhio`` in the same run, and prints
the frames per second of each and their ratio. "Loading" means: parse the file and compute world
positions of every joint in every frame (for bvhio: ``readAsHierarchy`` + ``loadPose`` per frame +
``PositionWorld`` of every joint). Along the way it checks that both agree (max abs difference, cm).

    python scripts/bench_bvh.py [DATA] [--limit N] [--repeat R]

``--limit N`` caps the number of files bvhio reads (it is ~100x slower); ours reads all of them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eai_llm.skeleton.io import UNIT_SCALES, load_clip  # noqa: E402


def bvhio_positions(path: Path) -> np.ndarray:
    """(T, J, 3) world positions in file units (cm here) via bvhio."""
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    joints = [j for j, _, _ in root.layout()]
    frames = root.getKeyframeRange()[1] + 1
    out = np.empty((frames, len(joints), 3))
    for f in range(frames):
        root.loadPose(f)
        for k, j in enumerate(joints):
            p = j.PositionWorld
            out[f, k] = (p.x, p.y, p.z)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(ROOT.parent / "shared" / "data"),
                        help="folder searched recursively for .bvh files (default: ../shared/data)")
    parser.add_argument("--limit", type=int, default=None, help="read at most N files with bvhio (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="times ours reads the whole set (best is kept)")
    args = parser.parse_args(argv)
    files = sorted(Path(args.data).rglob("*.bvh"))
    if not files:
        print(f"no .bvh files under {args.data}", file=sys.stderr)
        return 2

    best = float("inf")
    clips = {}
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        for f in files:
            clips[f] = load_clip(f)
        best = min(best, time.perf_counter() - t0)
    ours_frames = sum(c.num_frames for c in clips.values())
    ours_fps = ours_frames / best
    print(f"ours : {len(files)} files, {ours_frames} frames in {best:.3f} s -> {ours_fps:,.0f} frames/s")

    subset = files[: args.limit] if args.limit else files
    ref_time, ref_frames, max_diff = 0.0, 0, 0.0
    for k, f in enumerate(subset, 1):
        t0 = time.perf_counter()
        ref = bvhio_positions(f)
        ref_time += time.perf_counter() - t0
        ref_frames += ref.shape[0]
        ours = clips[f].positions.astype(np.float64) / UNIT_SCALES[clips[f].meta["units"]]
        max_diff = max(max_diff, float(np.abs(ours - ref).max()))
        if k % 10 == 0 or k == len(subset):
            print(f"  bvhio {k}/{len(subset)} files, {ref_frames / ref_time:,.0f} frames/s so far", flush=True)
    ref_fps = ref_frames / ref_time
    # ours on exactly the same subset, for a like-for-like ratio
    t0 = time.perf_counter()
    for f in subset:
        load_clip(f)
    sub_time = time.perf_counter() - t0
    sub_fps = ref_frames / sub_time
    print(f"bvhio: {len(subset)} files, {ref_frames} frames in {ref_time:.3f} s -> {ref_fps:,.0f} frames/s")
    print(f"ours on the same files: {sub_fps:,.0f} frames/s")
    print(f"ratio ours/bvhio: {sub_fps / ref_fps:.1f}x (target >= 20x)")
    print(f"max |ours - bvhio|: {max_diff:.2e} file units (cm)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

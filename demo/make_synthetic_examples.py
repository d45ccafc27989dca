"""Regenerate the synthetic example clips in ``demo/examples/`` (deterministic).

    .venv/bin/python demo/make_synthetic_examples.py

Writes two procedural clips (``eai_llm.data.synthetic.synthetic_clip``) in layouts we have no real data for,
in the formats a user's pose pipeline would typically produce:

- ``synthetic_kinect_v2_angry_walk.csv``: Kinect v2 joints, a ``time`` column (seconds) and
  ``<Joint>_x,<Joint>_y,<Joint>_z`` columns in metres;
- ``synthetic_h36m_17_happy_gesture.npy``: a bare ``(frames, 17, 3)`` float32 array in Human3.6M order (metres,
  Y up); NPY files carry no layout or frame rate, so the demo selects ``h36m_17`` and 30 fps is assumed.

They are synthetic and labelled as such: they exercise the readers and the interface, they are no evidence
of accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eai_llm.data.synthetic import synthetic_clip
from eai_llm.skeleton.clip import SkeletonClip

EXAMPLES = Path(__file__).resolve().parent / "examples"


def write_csv(clip: SkeletonClip, path: Path) -> Path:
    """Write ``clip`` as CSV: a ``time`` column (seconds, 6 decimals), ``<joint>_x/_y/_z`` columns (metres, 4)."""
    names = clip.layout.joint_names
    header = ["time"] + [f"{n}_{a}" for n in names for a in "xyz"]
    times = np.arange(clip.num_frames, dtype=np.float64) / clip.fps
    table = np.column_stack([times, clip.positions.reshape(clip.num_frames, -1).astype(np.float64)])
    np.savetxt(path, table, fmt=["%.6f"] + ["%.4f"] * (table.shape[1] - 1), delimiter=",", header=",".join(header),
               comments="")
    return path


def main() -> None:
    """Write the synthetic examples next to the real ones."""
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    csv_clip = synthetic_clip("angry", "kinect_v2", seconds=6.0, fps=30.0, seed=7, content="walk")
    print("wrote", write_csv(csv_clip, EXAMPLES / "synthetic_kinect_v2_angry_walk.csv"))
    npy_clip = synthetic_clip("happy", "h36m_17", seconds=6.0, fps=30.0, seed=11, content="gesture")
    path = EXAMPLES / "synthetic_h36m_17_happy_gesture.npy"
    np.save(path, np.ascontiguousarray(npy_clip.positions, dtype=np.float32))
    print("wrote", path)


if __name__ == "__main__":
    main()

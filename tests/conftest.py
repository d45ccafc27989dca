"""Shared test helpers: the real data folder beside the project, and skipping when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "bandai_namco_motion_1"
REAL_BVH_DIR = REAL_DATA / "data"
ASSETS = Path(__file__).resolve().parent / "assets"


def real_bvh_files(pattern: str = "*.bvh") -> list[Path]:
    return sorted(REAL_BVH_DIR.glob(pattern)) if REAL_BVH_DIR.is_dir() else []


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The Bandai Namco data folder; skips the test with a reason when ../shared/data is absent."""
    if not real_bvh_files():
        pytest.skip(f"../shared/data not present: no BVH files under {REAL_BVH_DIR}")
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A model trained on the tiny recipe (tiny random Llama, synthetic clips), once per test session."""
    from eai_llm.cli import main

    out = tmp_path_factory.mktemp("tiny-model")
    assert main(["train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--output-dir", str(out),
                 "--no-progress", "--override", f"cache_dir={out / 'cache'}"]) == 0
    return out / "model"


@pytest.fixture
def tiny_bvh(tmp_path: Path):
    """(path, joints, motion) of a 6-frame BVH of the reference human rig (tests/bvh_reference.py)."""
    from bvh_reference import bvh_text, human_rig, random_motion, write

    joints = human_rig()
    motion = random_motion(joints, 6)
    path = write(tmp_path / "tiny.bvh", bvh_text(joints, motion, end_sites={"Head": (0, 12, 0)}))
    return path, joints, motion

"""Packaging guards: no project package may shadow Hugging Face's `tokenizers` or `datasets`."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_tokenizers_and_datasets_folders_are_data_only():
    for name in ("tokenizers", "datasets"):
        folder = ROOT / name
        if folder.exists():
            assert not list(folder.rglob("*.py")), f"{name}/ must hold data only (see DESIGN.md decision 1)"


def test_hf_tokenizers_not_shadowed_from_repo_root():
    code = (
        "import tokenizers, transformers, datasets, sys;"
        "assert hasattr(tokenizers, 'Tokenizer'), tokenizers.__file__;"
        "assert 'site-packages' in tokenizers.__file__, tokenizers.__file__;"
        "assert 'site-packages' in datasets.__file__, datasets.__file__;"
        "from transformers import AutoConfig; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_import_is_light():
    code = "import sys, eai_llm, eai_llm.cli; heavy = {'torch', 'transformers', 'datasets'} & set(sys.modules); print(sorted(heavy))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

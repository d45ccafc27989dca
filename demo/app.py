"""Thin launcher: ``python demo/app.py [--model DIR] [--host 127.0.0.1] [--port 7860]``.

Same as ``eai-llm demo`` (the app itself is :mod:`eai_llm.demo`, built by ``build_demo``); handy where the
console script is not on PATH, e.g. a Hugging Face Space or a notebook's terminal.
"""

from __future__ import annotations

import sys

from eai_llm.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))

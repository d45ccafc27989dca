"""``python -m eai_llm.cli`` (what ``accelerate launch -m eai_llm.cli ...`` runs)."""

import sys

from . import main

sys.exit(main())

"""The explanation machinery: what an explanation may say, how it is written, read back and checked.

- :mod:`.vocabulary` -- the cue phrases, the emotion correlates, label phrases and the fixed words;
- :mod:`.evidence` -- z-scores, support (``|z| >= 1``), applicability (preconditions) and which cues to cite;
- :mod:`.texts` -- training texts: descriptions, the canonical explanation, answers and questions;
- :mod:`.grammar` -- the explanation grammar as one table;
- :mod:`.parsing` -- the answer format, claims in free text, the explanation as segments;
- :mod:`.values` -- measured values in words with units ("head raised 16°");
- :mod:`.verification` -- checking claims and whole explanations against the clip;
- :mod:`.contrast` -- "rather than <label>: <cues>" when two labels are close;
- :mod:`.constrained` -- decoding inside the grammar, with only the cues the clip supports.

Pure Python + numpy except :mod:`.constrained` (torch, imported lazily).
"""

from .contrast import contrast_text
from .evidence import (EPS, GAIT_CUES, LOCOMOTION_MIN, PRECONDITIONS, SUPPORT_Z, Claim, Selection, applicable,
                       data_correlates, not_applicable, select_claims, select_evidence, zscore, zscores)
from .parsing import ExplanationParse, ParsedAnswer, Segment, extract_claims, parse_answer, parse_explanation
from .texts import (answer_text, build_instructions, classify_question, describe_movement, describe_question,
                    explain_question, explanation_text)
from .values import annotate, format_value
from .verification import (ClaimCheck, ExplanationCheck, check_explanation, faithfulness, label_consistency,
                           verify_claims)
from .vocabulary import (CUE_PHRASES, DIRECTIONS, EMOTION_ADJECTIVE, EMOTION_CORRELATES, EXPLANATION_PREFIX,
                         TASK_PREFIX, Direction, agreement, correlate_table, cue_phrase, label_phrase,
                         phrase_to_claim, task_prefix)

__all__ = [
    "Direction", "DIRECTIONS", "CUE_PHRASES", "phrase_to_claim", "cue_phrase", "EMOTION_CORRELATES",
    "EMOTION_ADJECTIVE", "label_phrase", "correlate_table", "agreement", "TASK_PREFIX", "task_prefix",
    "EXPLANATION_PREFIX",
    "Claim", "EPS", "SUPPORT_Z", "LOCOMOTION_MIN", "GAIT_CUES", "PRECONDITIONS", "zscore", "zscores", "applicable",
    "not_applicable", "Selection", "select_claims", "select_evidence", "data_correlates",
    "describe_movement", "explanation_text", "answer_text", "classify_question", "explain_question",
    "describe_question", "build_instructions",
    "ParsedAnswer", "parse_answer", "extract_claims", "Segment", "ExplanationParse", "parse_explanation",
    "format_value", "annotate",
    "ClaimCheck", "verify_claims", "faithfulness", "label_consistency", "ExplanationCheck", "check_explanation",
    "contrast_text",
]

"""The markdown report of `eai-llm evaluate` (``report.md`` beside ``metrics.json``): the systems table, per-class
recall, per-content-type accuracy, the targets, the explanation checks, the joint-training table and the
re-expressed-rig table."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from .metrics import EMOTION7
from .rigs import is_rig_system, rig_table

__all__ = ["write_report", "joint_table", "explanation_table", "uncertainty_table"]


def _fmt(x, pct: bool = True) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _claim_share(s: dict) -> str:
    """How many explanations made a checkable claim (faithfulness is the mean over those)."""
    return f" ({s['explanations']}/{s['explained']} with claims)" if s.get("explained") else ""


def joint_table(systems: dict) -> list[str]:
    """What joint training does: for each mixture, the tokenizer's linear probe, the LLM alone and the shipped
    (fused) system on the same folds (rows only for the mixtures that were run)."""
    mixtures = [("emotion only", "-emotion-only"), ("emotion + dataset-1 style", "-emotion-style"),
                ("emotion + dataset-2 style (pretrained tokenizer)", "-emotion-style2"), ("all three (the recipe)", "")]
    cols = [("tokenizer-linear{}", "tokenizer linear probe"), ("llm{}-unfused", "LLM alone"), ("llm{}", "shipped")]
    rows = []
    for title, v in mixtures:
        cells = [systems.get(c.format(v)) for c, _ in cols]
        if any(cells):
            rows.append(f"| {title} | " + " | ".join(_fmt(c["7class"]["accuracy"]) if c else "–" for c in cells) + " |")
    if len(rows) < 2:
        return []
    return ["", "Joint training (7-class accuracy, same folds):", "",
            "| training mixture | " + " | ".join(n for _, n in cols) + " |", "| --- | --- | --- | --- |", *rows]


def explanation_table(systems: dict) -> list[str]:
    """The explanation checks of every system that explained (evaluation/explanations.py)."""
    rows = []
    for name, s in systems.items():
        c = s.get("explanation_checks")
        if not c:
            continue
        comp = (f"{_fmt(c['comprehensiveness_cited'], False)} vs {_fmt(c['comprehensiveness_uncited'], False)}; "
                f"{_fmt(c['cited_matter_more'])} of {c['comprehensiveness_clips']}") if c["comprehensiveness_clips"] else "–"
        rows.append(f"| {name} | {c['explained']} | {_fmt(c['well_formed'])} | {_fmt(c['plausible'])} | "
                    f"{_fmt(c['applicable'])} ({c['gait_cues_without_locomotion']}) | "
                    f"{_fmt(c['two_supported_cues'])} of {c['clips_with_two_available']} | "
                    f"{_fmt(s['label_consistency'], False)} | {comp} |")
    if not rows:
        return []
    return ["", "Explanations (free generation; issue 12's checks):", "",
            "| system | explained | well-formed | plausible | applicable (gait cues on clips without locomotion) | "
            ">= 2 supported cues (of clips that have 2) | label consistency | comprehensiveness cited vs uncited "
            "(mean drop of p(label); share of clips where cited > uncited) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |", *rows]


def conformal_table(systems: dict) -> list[str]:
    """Empirical coverage and mean size of the 90% prediction sets, calibrated on the other folds."""
    rows = []
    for name, s in systems.items():
        c = s.get("conformal")
        if c:
            rows.append(f"| {name} | " + " | ".join(f"{_fmt(c[m]['coverage'])} / {c[m]['mean_set_size']:.2f}"
                                                   for m in ("lac", "aps")) + " |")
    if not rows:
        return []
    level = next(s["conformal"]["level"] for s in systems.values() if s.get("conformal"))
    return ["", f"Prediction sets at {level:.0%} (split conformal, each fold calibrated on the other folds' held-out "
            "predictions): coverage / mean set size:", "", "| system | LAC | APS |", "| --- | --- | --- |", *rows]


def uncertainty_table(systems: dict) -> list[str]:
    """Accuracy, NLL, Brier and both ECEs with bootstrap intervals (calibrated as the systems table is); an
    ensemble also gets a row for its members one by one (mean +- SD over seeds)."""
    rows = []
    for name, s in systems.items():
        m = s["7class"]
        if "nll" not in m:
            continue
        (a, b), (c, d) = m["ece_mass10_ci95"], m["ece_width15_ci95"]
        rows.append(f"| {name} | {_fmt(m['accuracy'])} | {m['nll']:.3f} | {m['brier']:.3f} | "
                    f"{m['ece_mass10']:.3f} ({a:.3f}–{b:.3f}) | {m['ece_width15']:.3f} ({c:.3f}–{d:.3f}) |")
        e = s.get("members")
        if e:
            rows.append(f"| {name}: one member ({e['members']} seeds, mean ± SD) | "
                        f"{_fmt(e['accuracy_mean'])} ± {100 * e['accuracy_sd']:.1f} | {e['nll_mean']:.3f} ± "
                        f"{e['nll_sd']:.3f} | {e['brier_mean']:.3f} ± {e['brier_sd']:.3f} | {e['ece_mass10_mean']:.3f} ± "
                        f"{e['ece_mass10_sd']:.3f} | {e['ece_width15_mean']:.3f} ± {e['ece_width15_sd']:.3f} |")
    if not rows:
        return []
    return ["", "Uncertainty (7 classes, calibrated with the other folds' temperature; ECE with a bootstrap 95% "
            "interval over clips):", "",
            "| system | accuracy | NLL | Brier | ECE 10 equal-mass bins | ECE 15 equal-width bins |",
            "| --- | --- | --- | --- | --- | --- |", *rows]


def write_report(out: Path, metrics: dict) -> None:
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    systems = {k: v for k, v in metrics["systems"].items() if not is_rig_system(k)}
    lines = [f"# EAI-LLM evaluation ({metrics['protocol']})", "",
             f"Date: {metrics['date']}. Machine: {platform.machine()}, {platform.system()}. Data: `{metrics['data']}`.", ""]
    if metrics["protocol"] == "loco":
        lines += ["Leave-one-content-type-out: each content type is held out in turn, the system is trained on the",
                  "others, and its clips are predicted (window probabilities averaged per clip). `normal` is restricted",
                  "to the content types the other styles share. Calibration uses training folds only: each held-out",
                  "type's temperature is fitted on the held-out predictions of the other folds (ECE 7 shows it, then",
                  "uncalibrated, then with a temperature fitted on the fold's own training clips, which sharpens).", ""]
    lines += ["| system | acc 7 (95% CI) | macro-F1 7 | acc 4 | ECE 7 (raw; train-clip T) | faithfulness | label consistency |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, s in systems.items():
        m7, m4 = s["7class"], s["4class"]
        lo, hi = m7["accuracy_ci95"]
        lines.append(f"| {name} | {_fmt(m7['accuracy'])} ({_fmt(lo)}–{_fmt(hi)}) | {_fmt(m7['macro_f1'], False)} | "
                     f"{_fmt(m4['accuracy'])} | {_fmt(m7['ece'], False)} ({_fmt(m7.get('ece_uncalibrated'), False)}; "
                     f"{_fmt(m7.get('ece_train_clip_temperature'), False)}) | "
                     f"{_fmt(s['faithfulness'], False)}{_claim_share(s)} | {_fmt(s['label_consistency'], False)} |")
    precision = [f"{name}: {', '.join(s['llm_dtype'])}" for name, s in systems.items() if s.get("llm_dtype")]
    if precision:
        lines += ["", "LLM precision at prediction time: " + "; ".join(precision) + "."]
    lines += ["", "Per-class recall (7 classes):", "",
              "| system | " + " | ".join(EMOTION7) + " |", "| --- |" + " --- |" * len(EMOTION7)]
    for name, s in systems.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(s["7class"]["recall"][l]) for l in EMOTION7) + " |")
    groups = sorted({g for s in systems.values() for g in s["per_group_accuracy"]})
    lines += ["", "Accuracy per held-out content type (7 classes):", "",
              "| system | " + " | ".join(groups) + " |", "| --- |" + " --- |" * len(groups)]
    for name, s in systems.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(s["per_group_accuracy"].get(g)) for g in groups) + " |")
    main = systems.get("llm")
    if main:
        t = metrics["targets"]
        checks = [("7-class accuracy", main["7class"]["accuracy"], t["accuracy_7"], True),
                  ("4-class accuracy", main["4class"]["accuracy"], t["accuracy_4"], True),
                  ("explanation faithfulness", main["faithfulness"], t["faithfulness"], True),
                  ("label consistency", main["label_consistency"], t["label_consistency"], True),
                  ("ECE (7 classes)", main["7class"]["ece"], t["ece_7"], False)]
        lines += ["", "Targets (the llm system):", "", "| metric | measured | target | met |", "| --- | --- | --- | --- |"]
        for name, value, target, higher in checks:
            met = value is not None and (value >= target if higher else value <= target)
            lines.append(f"| {name} | {_fmt(value, False)} | {'>=' if higher else '<='} {target} | {'yes' if met else 'NO'} |")
    lines += explanation_table(systems)
    lines += conformal_table(systems)
    lines += uncertainty_table(systems)
    lines += joint_table(systems)
    lines += rig_table(metrics["systems"])
    lines += ["", "Figures: " + ", ".join(f"`{p.name}`" for p in sorted(out.glob("*.png"))), ""]
    (out / "report.md").write_text("\n".join(lines))

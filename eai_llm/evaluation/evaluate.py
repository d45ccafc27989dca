"""`eai-llm evaluate`: leave-one-content-type-out (loco) evaluation, written as a report (holdout: holdout.py).

Systems compared on the same folds (clip-level predictions, window probabilities averaged per clip):

- ``llm``: the full EAI-LLM trained from a recipe on each fold (``exclude_groups`` = the held-out content type),
  as shipped: label probabilities pool the LLM's label likelihood with the skeleton tokenizer's head
  (``fusion_weight``), decoding is grounded. Explanations are generated *free* (the model names the emotion
  itself) so that label consistency means something, and every cue claim is verified against the clip's
  measurements (faithfulness). ``llm-unfused`` scores labels with the LLM alone, ``llm-ungrounded`` decodes
  without the grounding constraint (inference switches: the same fold models); ``llm-ensemble`` gives the same
  fold models the fold's deep ensemble as their head, pooled at a fusion weight the other folds choose (fusion.py);
- ``cues-logreg``: clip-level kinematic cues + logistic regression (a non-LLM baseline);
- ``tokenizer-linear``: the skeleton tokenizer's encoder + its linear head after stage 1, without the LLM;
- re-expressed rigs (``reexpress``): ``<system>@<layout>`` scores the same fold models on the held-out clips
  written as a smaller rig would record them (``h36m_17``, ``kinect_v2``, ``emotion_gait_16``; see rigs.py);
- ablations (recipe variants, trained per fold): emotion-only training (no style task in the mixture), without
  semantic tokens, and for the llm also without spatio-temporal tokens (``llm-<variant>-unfused``: the same
  fold models scored by the LLM alone, which isolates what the variant does to the LLM).

Each fold's predictions are saved under ``<out>/folds/<system>/<group>.json`` as soon as they exist, so an
interrupted run continues where it stopped. Calibration uses training folds only (see :func:`.results.fold_temperatures`).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .metrics import EMOTION4, EMOTION7, plot_confusion, plot_reliability
from .probe import fold_recipe, tokenizer_fold
from .report import write_report
from .results import FoldResult, _calibrated_all, _fit_t, summarise

__all__ = ["EMOTION7", "EMOTION4", "SYSTEMS", "evaluate_loco", "TARGETS"]

_JOINT = ("-emotion-only", "-emotion-style", "-emotion-style2")
# uncertainty (issue 13): -mcdropout / -ensemble score the full recipe's fold tokenizers differently (probe.py);
# -student is the recipe variant whose tokenizer is distilled from that ensemble (training/distill.py)
_UNCERTAINTY = ("-mcdropout", "-ensemble", "-student")
SYSTEMS = ("cues-logreg", "tokenizer-linear",
           *(f"tokenizer-linear{v}" for v in (*_JOINT, "-no-semantic", *_UNCERTAINTY)), "llm",
           "llm-unfused", "llm-ungrounded", "llm-unfused-ungrounded", "llm-ensemble",
           *(f"llm{v}{u}" for v in (*_JOINT, "-no-semantic", "-no-spatio-temporal", "-student", "-kd")
             for u in ("", "-unfused")), "llm-kd-ensemble")
# the llm systems whose head is the fold ensemble at the nested fusion weight (``llm<variant>-ensemble``)
_ENSEMBLE_LLM = ("llm-ensemble", "llm-kd-ensemble")
# where a fold run keeps its stage-1 tokenizer (training/stage1.py: stage1_tokenizer)
STAGE1 = Path("checkpoints") / "stage1_tokenizer"
TARGETS = {"accuracy_7": 0.90, "accuracy_4": 0.90, "faithfulness": 0.95, "label_consistency": 0.99, "ece_7": 0.08}


# ---- data ---------------------------------------------------------------------------------------
def _emotion_records(data: Path):
    from ..data.datasets import records_from_bandai

    return records_from_bandai(data, "emotion", balance_normal=True)


def _clip_cues(records) -> list[dict[str, float]]:
    from ..skeleton.cues import kinematic_cues
    from ..skeleton.io import load_clip

    return [kinematic_cues(load_clip(r.path)) for r in records]


# ---- systems ------------------------------------------------------------------------------------
def _cues_logreg(records, cues, test_group: str) -> FoldResult:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    names = sorted({k for c in cues for k in c})
    x = np.array([[c.get(n, np.nan) for n in names] for c in cues], float)
    y = np.array([EMOTION7.index(r.label) for r in records])
    test = np.array([r.group == test_group for r in records])
    mean = np.nanmean(x[~test], axis=0)
    x = np.where(np.isnan(x), mean, x)
    scaler = StandardScaler().fit(x[~test])
    clf = LogisticRegression(C=0.5, max_iter=5000).fit(scaler.transform(x[~test]), y[~test])
    p = np.zeros((len(x), 7))
    p[:, clf.classes_] = clf.predict_proba(scaler.transform(x))
    t = _fit_t(p[~test], y[~test])
    sel = np.flatnonzero(test)
    return FoldResult([records[i].clip_id for i in sel], [test_group] * len(sel), [records[i].label for i in sel],
                      p[sel].tolist(), t, [None] * len(sel), [None] * len(sel), [None] * len(sel),
                      time.perf_counter() - t0)


def _llm(recipe_path: Path, data: Path, records, test_group: str, out: Path, overrides: Sequence[str], explain: bool,
         max_new_tokens: int, dtype: str = "auto", grounded: bool = True, fused: bool = True,
         test_clip: Callable | None = None, head_members: int = 0, fusion_weight: float | None = None) -> FoldResult:
    """One fold of an llm system. ``head_members`` (>= 2): the fold model's head becomes the fold's ensemble (its
    tokenizer + teachers 1 .. head_members - 1, trained when missing); ``fusion_weight``: the head's weight in the
    pooling (default: the model's)."""
    from .. import explain as T
    from ..interpreter import EmotionInterpreter
    from ..skeleton.io import load_clip
    from ..training.train import train
    from .explanations import check_record

    t0 = time.perf_counter()
    recipe = fold_recipe(recipe_path, data, test_group, out, overrides)
    model_dir = out / "model"
    if not (model_dir / "config.json").is_file():
        for old in out.glob("train_temperature*.json"):   # of an earlier model in this folder
            old.unlink()
        model_dir = train(recipe, resume=True, progress=False)
    interp = EmotionInterpreter.from_pretrained(model_dir, dtype=dtype)
    if head_members and not len(interp.model.head_members):    # a model trained with its own ensemble keeps it
        from .probe import _members

        interp.model.head_members.extend(m.eval() for m in _members(recipe, out, head_members)[1:])
    if fusion_weight is not None:
        interp.model.config.fusion_weight = fusion_weight
    if not fused:
        interp.model.config.fusion_weight = 0.0
    labels = interp.label_sets["emotion"]
    order = [labels.index(l) for l in EMOTION7]
    train_recs = [r for r in records if r.group != test_group]
    test_recs = [r for r in records if r.group == test_group]
    # the temperature on the fold's training clips (full rig) is the same for every re-expressed rig: kept once
    t_file = out / f"train_temperature{'' if fused else '_unfused'}{'_ensemble' if head_members else ''}.json"
    if t_file.is_file():
        t = json.loads(t_file.read_text())["temperature"]
    else:
        _, wprobs = interp.classify_windows([load_clip(r.path) for r in train_recs])
        t = _fit_t(np.stack([w.mean(0)[order] for w in wprobs]), [EMOTION7.index(r.label) for r in train_recs])
        t_file.write_text(json.dumps({"temperature": t}))
    probs, expl, faith, cons, checks = [], [], [], [], []
    for r in test_recs:
        clip = test_clip(r.path) if test_clip else load_clip(r.path)
        res = interp.interpret(clip, explain=explain, conditioned=False, grounded=grounded,
                               max_new_tokens=max_new_tokens, attribute=False)
        probs.append([res.probabilities[l] for l in EMOTION7])
        expl.append(res.raw_explanation)
        faith.append(res.faithfulness)
        cons.append(T.label_consistency(res.raw_explanation, res.label, labels) if explain else None)
        checks.append(check_record(interp, clip, res, labels) if explain else None)
    n = len(test_recs)
    return FoldResult([r.clip_id for r in test_recs], [test_group] * n, [r.label for r in test_recs], probs, t,
                      expl, faith, cons, time.perf_counter() - t0, _llm_dtype(interp), checks,
                      fusion_weight=fusion_weight)


def _llm_dtype(interp) -> str:
    return str(next(interp.model.llm.parameters()).dtype).removeprefix("torch.")


# ---- the loop -----------------------------------------------------------------------------------
def _run_folds(name: str, groups: Sequence[str], out: Path, run: Callable[[str], FoldResult],
               log: Callable[[str], None], current: Callable[[str, FoldResult], bool] | None = None
               ) -> list[FoldResult]:
    """Each fold's saved result of system ``name``, or ``run(g)`` (then saved) where there is none. ``current``:
    whether a saved result still holds (e.g. its fusion weight is the one chosen now); one that does not is redone."""
    results = []
    for g in groups:
        path = out / "folds" / name / f"{g}.json"
        if path.is_file():
            saved = FoldResult.load(path)
            if current is None or current(g, saved):
                results.append(saved)
                continue
            log(f"[{name}] fold {g}: the saved result is out of date (scored at another fusion weight); scoring again")
        log(f"[{name}] fold {g}: training and predicting ...")
        res = run(g)
        res.save(path)
        log(f"[{name}] fold {g}: {sum(np.argmax(p) == EMOTION7.index(l) for p, l in zip(res.probs, res.labels))}"
            f"/{len(res.labels)} correct ({res.seconds:.0f} s)")
        results.append(res)
    return results


def evaluate_loco(data: str | Path, out: str | Path, *, config: str | Path | None = None,
                  systems: Sequence[str] = ("cues-logreg", "tokenizer-linear", "tokenizer-linear-emotion-only",
                                            "tokenizer-linear-no-semantic", "llm"),
                  groups: Sequence[str] | None = None, overrides: Sequence[str] = (), explain: bool = True,
                  max_new_tokens: int = 40, dtype: str = "auto", reexpress: Sequence[str] = (),
                  ensemble_size: int = 5, log: Callable[[str], None] = print) -> dict:
    """Leave-one-content-type-out over the emotion clips of a Bandai-style folder; writes the report into ``out``.

    ``reexpress``: smaller layouts (e.g. ``h36m_17``, ``kinect_v2``, ``emotion_gait_16``); each trained system is
    also scored on every fold's held-out clips re-expressed in each layout (``<system>@<layout>``: the same fold
    models, labels only, see :mod:`eai_llm.evaluation.rigs`), reported as a table "full rig vs each layout".
    ``ensemble_size``: the members of ``tokenizer-linear-ensemble`` and the teachers of the ``-student`` systems."""
    from .rigs import check_layouts, rig_reader
    from .variants import variant_overrides

    data, out = Path(data), Path(out)
    reexpress = check_layouts(reexpress)
    out.mkdir(parents=True, exist_ok=True)
    records = _emotion_records(data)
    all_groups = sorted({r.group for r in records})
    groups = list(groups or all_groups)
    unknown = sorted(set(groups) - set(all_groups))
    if unknown:
        raise ValueError(f"{data}: unknown content types {unknown}, expected some of {all_groups}")
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown systems {unknown}; known: {', '.join(SYSTEMS)}")
    needs_recipe = [s for s in systems if s != "cues-logreg"]
    if needs_recipe and config is None:
        raise ValueError(f"systems {needs_recipe} train per fold and need --config (a recipe)")
    cues = _clip_cues(records) if "cues-logreg" in systems else []
    # each variant changes the recipe; a tokenizer-linear system and the llm system of the same variant share one
    # run folder per fold, so the llm reuses the stage-1 tokenizer the linear head was read from (same folds, same weights)
    if ensemble_size < 2:
        raise ValueError(f"ensemble_size must be >= 2, got {ensemble_size}")
    variants = variant_overrides(config, ensemble_size=ensemble_size)
    summary: dict = {}
    for system in systems:
        base, variant = next(((b, system[len(b):]) for b in ("tokenizer-linear", "llm") if system.startswith(b)),
                             (system, ""))
        # inference switches only (the same trained fold models): -unfused = the LLM's label scores alone,
        # -ungrounded = decoding may state unsupported cue phrases
        grounded, fused = "-ungrounded" not in variant, "-unfused" not in variant
        kind = next((k for k in ("mcdropout", "ensemble") if variant == f"-{k}"), "single")
        variant = "" if kind != "single" else variant.replace("-ungrounded", "").replace("-unfused", "")
        if system == "cues-logreg":
            res = _run_folds(system, groups, out, lambda g: _cues_logreg(records, cues, g), log)
        elif system in _ENSEMBLE_LLM:
            v = system.removeprefix("llm").removesuffix("-ensemble")
            res = _ensemble_folds(Path(config), data, records, groups, out, overrides, explain, max_new_tokens, dtype,
                                  ensemble_size, log, v, variants[v])
        elif base == "tokenizer-linear":
            res = _run_folds(system, groups, out, lambda g, v=variant: tokenizer_fold(
                Path(config), data, records, g, _run_dir(out, v, g, variants[v]), [*overrides, *variants[v]],
                kind=kind, members=ensemble_size), log)
        else:
            res = _run_folds(system, groups, out, lambda g, v=variant, gr=grounded, fu=fused: _llm(
                Path(config), data, records, g, _run_dir(out, v, g, variants[v]), [*overrides, *variants[v]], explain,
                max_new_tokens, dtype, gr, fu), log)
        summary[system] = summarise(res)
        for layout in reexpress if base in ("tokenizer-linear", "llm") else ():
            name, read = f"{system}@{layout}", rig_reader(layout)
            if system in _ENSEMBLE_LLM:         # the same fold weights, the clips re-expressed
                v = system.removeprefix("llm").removesuffix("-ensemble")
                lres = _ensemble_folds(Path(config), data, records, groups, out, overrides, False, max_new_tokens,
                                       dtype, ensemble_size, log, v, variants[v], test_clip=read, name=name)
            elif base == "tokenizer-linear":
                lres = _run_folds(name, groups, out, lambda g, v=variant: tokenizer_fold(
                    Path(config), data, records, g, _run_dir(out, v, g, variants[v]), [*overrides, *variants[v]],
                    read, kind=kind, members=ensemble_size), log)
            else:
                lres = _run_folds(name, groups, out, lambda g, v=variant, gr=grounded, fu=fused: _llm(
                    Path(config), data, records, g, _run_dir(out, v, g, variants[v]), [*overrides, *variants[v]],
                    False, max_new_tokens, dtype, gr, fu, read), log)
            summary[name] = summarise(lres)
        if res:
            m7 = summary[system]["7class"]
            plot_confusion(np.array(m7["confusion"]), EMOTION7, out / f"confusion_{system}.png", f"{system}, 7 classes (loco)")
            probs = _calibrated_all(res)
            plot_reliability(probs, [EMOTION7.index(l) for r in res for l in r.labels],
                             out / f"reliability_{system}.png", f"{system}, 7 classes (loco, calibrated)")
    metrics = {"protocol": "loco", "data": str(data), "config": str(config) if config else None, "groups": groups,
               "reexpress": list(reexpress),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "systems": summary,
               "targets": TARGETS}
    write_report(out, metrics)
    return metrics


def _ensemble_folds(config: Path, data: Path, records, groups: Sequence[str], out: Path, overrides: Sequence[str],
                    explain: bool, max_new_tokens: int, dtype: str, members: int, log, variant: str = "",
                    variant_overrides: Sequence[str] = (), test_clip: Callable | None = None,
                    name: str | None = None) -> list[FoldResult]:
    """``llm<variant>-ensemble``: the fold models with the fold ensemble as their head, each fold pooled at the
    fusion weight the *other* folds' held-out clips choose (evaluation/fusion.py) from their ``llm<variant>-unfused``
    and ``tokenizer-linear-ensemble`` results (run first when missing). ``variant``: "" (the full recipe) or a
    variant that changes stage 2 only (``-kd``), whose head is the full recipe's. ``test_clip`` / ``name``: the
    held-out clips read another way (a re-expressed rig) under that result name, at the full rig's weights."""
    from .fusion import fold_fusion_weights

    name = name or f"llm{variant}-ensemble"
    mine = [*overrides, *variant_overrides]
    folder = lambda g: _run_dir(out, variant, g, variant_overrides)
    llm = _run_folds(f"llm{variant}-unfused", groups, out, lambda g: _llm(
        config, data, records, g, folder(g), mine, False, max_new_tokens, dtype, True, False), log)
    head = _run_folds("tokenizer-linear-ensemble", groups, out, lambda g: tokenizer_fold(
        config, data, records, g, _run_dir(out, "", g), overrides, kind="ensemble", members=members), log)
    # every fold's weight is chosen on all the other folds that have both results: with --groups, those of
    # another process's groups too; a saved fold scored at a weight chosen on fewer folds is scored again
    more = [g for g in sorted({r.group for r in records}) if g not in groups and all(
        (out / "folds" / s / f"{g}.json").is_file() for s in (f"llm{variant}-unfused", "tokenizer-linear-ensemble"))]
    load = lambda s: [FoldResult.load(out / "folds" / s / f"{g}.json") for g in more]
    chosen = fold_fusion_weights([*llm, *load(f"llm{variant}-unfused")], [*head, *load("tokenizer-linear-ensemble")])
    weights = dict(zip(groups, chosen))
    log(f"[{name}] fusion weights chosen on the other {len(groups) + len(more) - 1} folds: "
        + ", ".join(f"{g} {w:.2f}" for g, w in weights.items()))
    fresh = lambda g, saved: saved.fusion_weight is not None and abs(saved.fusion_weight - weights[g]) < 1e-9
    return _run_folds(name, groups, out, lambda g: _llm(
        config, data, records, g, folder(g), mine, explain, max_new_tokens, dtype, test_clip=test_clip,
        head_members=members, fusion_weight=weights[g]), log, fresh)


def _run_dir(out: Path, variant: str, group: str, variant_overrides: Sequence[str] = ()) -> Path:
    """The fold's run folder of a recipe variant. A variant that only changes what stage 1 does not depend on
    (STAGE2_ONLY_TOKENIZER_KEYS) starts from the full recipe's stage-1 tokenizer of the fold, so only the LLM's
    input differs."""
    from ..training.runs import STAGE2_ONLY_TOKENIZER_KEYS

    folder = out / "runs" / (variant.lstrip("-") or "full") / group
    stage2_only = {f"model.tokenizer.{k}" for k in STAGE2_ONLY_TOKENIZER_KEYS}
    shared, own = out / "runs" / "full" / group / STAGE1, folder / STAGE1
    keys = [o.split("=", 1)[0] for o in variant_overrides]
    if (keys and all(k in stage2_only or k.startswith("stage2.") for k in keys)
            and (shared / "model.safetensors").is_file() and not own.exists()):
        shutil.copytree(shared, own)
    if keys and all(k.startswith("stage2.") for k in keys):    # stage 1 as the full recipe's: its members too
        _share_teachers(out / "runs" / "full" / group, folder, _ensemble_members(out / "runs" / "full" / group))
    members = next((int(o.split("=", 1)[1]) for o in variant_overrides if o.startswith("stage1.distill_members=")), 0)
    if members:
        _share_teachers(out / "runs" / "full" / group, folder, members)
    return folder


def _ensemble_members(full: Path) -> int:
    """How many members (the fold's own tokenizer and ``teachers/<i>``) a full-recipe fold folder has."""
    from ..training.distill import teacher_dir

    n = 1
    while teacher_dir(full, n).is_dir():
        n += 1
    return n


def _share_teachers(full: Path, folder: Path, members: int) -> None:
    """A student variant's teachers are the full recipe's fold ensemble (teacher 0 = the full recipe's own
    tokenizer, teacher i = its ``teachers/<i>``): linked, so they are trained once for the ensemble and the student."""
    from ..training.distill import teacher_dir

    for i in range(members):
        target, link = (full if i == 0 else teacher_dir(full, i)).resolve(), teacher_dir(folder, i)
        if not link.exists() and not link.is_symlink():
            target.mkdir(parents=True, exist_ok=True)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target, target_is_directory=True)

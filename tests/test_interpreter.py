"""EmotionInterpreter: the LLM's own reading beside the shipped (fused) probabilities, warnings, progress,
and ``verbose`` forwarded to the model's loader."""

from __future__ import annotations

import pytest
import torch

from eai_llm import explain as T
from eai_llm.data.synthetic import synthetic_clip
from eai_llm.interpreter import EmotionInterpreter


@pytest.fixture(scope="module")
def interp(tiny_model):
    return EmotionInterpreter.from_pretrained(tiny_model)


def _skel(interp, clip):
    wb = interp._windows(clip)
    return interp._skel(wb, clip.layout.name)


@pytest.mark.parametrize("fusion_weight, temperature", [(0.5, 1.0), (0.3, 1.7), (0.0, 0.8)])
def test_one_pass_scores_match_the_models_label_probabilities(interp, fusion_weight, temperature):
    cfg = interp.config
    saved = cfg.fusion_weight, cfg.temperature
    cfg.fusion_weight, cfg.temperature = fusion_weight, temperature
    try:
        clip = synthetic_clip("angry", "kinect_v2", seconds=6.0, seed=4)
        labels = interp.label_sets["emotion"]
        question = T.classify_question(labels, "emotion")
        skel = _skel(interp, clip)
        fused, llm, _ = interp._label_scores(skel, question, labels)
        shipped = interp.model.label_probabilities(skel, question, labels)
        alone = torch.softmax(interp.model.label_logprobs(skel, question, labels).float(), dim=-1)
        assert torch.allclose(fused, shipped, atol=1e-5)         # the pooling is the model's own
        assert torch.allclose(llm, alone, atol=1e-5)             # the LLM before fusion and temperature
        res = interp.interpret(clip, explain=False)
        assert res.probabilities == pytest.approx(dict(zip(labels, shipped.mean(0).tolist())), abs=1e-5)
        assert res.llm_probabilities == pytest.approx(dict(zip(labels, alone.mean(0).tolist())), abs=1e-5)
        if fusion_weight > 0:
            assert res.llm_probabilities != pytest.approx(res.probabilities, abs=1e-3)
    finally:
        cfg.fusion_weight, cfg.temperature = saved


def test_no_llm_reading_when_the_head_alone_decides(interp):
    cfg = interp.config
    saved = cfg.fusion_weight
    cfg.fusion_weight = 1.0
    try:
        res = interp.interpret(synthetic_clip("sad", seed=3), explain=False)
        assert res.llm_probabilities is None and sum(res.probabilities.values()) == pytest.approx(1.0)
        assert res.to_dict()["llm_probabilities"] is None
    finally:
        cfg.fusion_weight = saved


def test_warnings_layout_and_duration_come_from_the_clip(interp):
    clip = synthetic_clip("tired", "kinect_v2", seconds=4.0, seed=2)
    clip = clip.replace(meta={**clip.meta, "warnings": ["units unclear: pass --units"]})
    res = interp.interpret(clip, explain=False)
    assert res.warnings == ["units unclear: pass --units"] and res.layout == "kinect_v2"
    assert res.duration_s == pytest.approx(clip.duration, abs=1e-3)
    d = res.to_dict()
    assert d["warnings"] == res.warnings and "llm_probabilities" in d
    assert interp.interpret(synthetic_clip("tired", seed=2), explain=False).warnings == []


def test_interpret_batch_reports_progress_per_clip(interp):
    class Bar:
        def __init__(self):
            self.n, self.closed = 0, False

        def update(self, n=1):
            self.n += n

        def close(self):
            self.closed = True

    bar = Bar()
    clips = [synthetic_clip(l, seed=i) for i, l in enumerate(["sad", "happy", "angry"])]
    results = interp.interpret_batch(clips, explain=False, progress=bar, clips_per_step=2)
    assert bar.n == 3 and not bar.closed                        # the caller's bar stays the caller's
    one_by_one = [interp.interpret(c, explain=False).probabilities for c in clips]
    assert [r.probabilities for r in results] == [pytest.approx(p, abs=1e-5) for p in one_by_one]


def test_progress_true_draws_a_bar_on_stderr(interp, capsys):
    interp.interpret_batch([synthetic_clip("sad", seed=1)], explain=False, progress=True)
    err = capsys.readouterr().err
    assert "1/1" in err and "clip" in err


def test_verbose_is_forwarded_to_the_model_loader(tiny_model, monkeypatch):
    import eai_llm.model.modeling as M

    real = M.EaiLlmModel.from_pretrained.__func__
    seen = {}

    def spy(cls, path, **kwargs):
        seen.update(kwargs)
        return real(cls, path, **kwargs)

    monkeypatch.setattr(M.EaiLlmModel, "from_pretrained", classmethod(spy))
    EmotionInterpreter.from_pretrained(tiny_model, verbose=True)
    assert seen["verbose"] is True and seen["merge_adapter"]

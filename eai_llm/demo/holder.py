"""The demo's model: resolved, loaded once (in the background or on first use), warmed up, made safe to call from
several request threads at once, and described in one status line that names the model by its folder name only.
"""

from __future__ import annotations

import logging
import threading
import time
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

from .limits import scrub_paths

if TYPE_CHECKING:  # pragma: no cover
    from ..interpreter import EmotionInterpreter

__all__ = ["InterpreterSource", "ModelHolder", "resolve_model_dir"]

log = logging.getLogger("eai_llm.demo")

InterpreterSource = Union["EmotionInterpreter", Callable[[], "EmotionInterpreter"], str, PathLike]


def resolve_model_dir(model: str | PathLike | None) -> Path:
    """The model directory to serve: ``model``, or the bundled default; one-line errors when it is not one."""
    from ..interpreter import default_model_dir

    if model is None:
        return default_model_dir()
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(2, "no such model directory", str(path))
    if not (path / "config.json").is_file():
        raise ValueError(f"{path}: not a model directory (no config.json); train one with "
                         "`eai-llm train --config configs/default.yaml`")
    return path


def _quiet_loading() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


class ModelHolder:
    """Loads the interpreter once (in the background or on first use), warms it up and reports its status.

    source: an :class:`EmotionInterpreter` (ready at once), a function returning one, or a model directory.
    warmup: run one tiny interpretation after loading (part of the load time shown in the page).
    """

    def __init__(self, source: InterpreterSource, name: str | None = None, *, warmup: bool = True):
        from ..interpreter import EmotionInterpreter

        self._interp: EmotionInterpreter | None = None
        self._loader: Callable[[], EmotionInterpreter] | None = None
        if isinstance(source, EmotionInterpreter):
            self._interp = serialise_tokenizer(source)
            name = name or str(source.model_dir or "in-memory model")
        elif isinstance(source, (str, PathLike)):
            path = Path(source)
            self._loader = lambda: EmotionInterpreter.from_pretrained(path)
            name = name or str(path)
        elif callable(source):
            self._loader = source
        else:
            raise TypeError(f"build_demo expects an EmotionInterpreter, a loader or a model directory, got {source!r}")
        self.name = name or "model"        # for the operator's log (may be a path)
        #: what the page shows: the model folder's name, never a path on the server
        self.display_name = Path(self.name).name or "model" if self.name else "model"
        self.warmup = warmup
        self.error: str | None = None
        self.load_seconds: float | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started = False
        if self._interp is not None:
            self._done.set()

    @property
    def state(self) -> str:
        """``"ready"``, ``"failed"``, ``"loading"`` or ``"idle"`` (not asked for yet)."""
        if self._interp is not None:
            return "ready"
        if self.error is not None:
            return "failed"
        return "loading" if self._started else "idle"

    def start(self) -> "ModelHolder":
        """Load in a background thread (returns at once)."""
        with self._lock:
            if self._started or self._done.is_set():
                return self
            self._started = True
        # not a daemon: stopping the server while torch is loading waits for it instead of aborting the process
        threading.Thread(target=self._load, name="eai-llm-model-loader", daemon=False).start()
        return self

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            _quiet_loading()
            interp = self._loader()
            serialise_tokenizer(interp)
            if self.warmup:
                _warm_up(interp)
            self._interp = interp
            self.load_seconds = time.perf_counter() - t0
            log.info("model %s loaded in %.1f s", self.name, self.load_seconds)
        except Exception as err:  # shown in the page; the server keeps serving
            log.exception("model %s failed to load", self.name)
            self.error = scrub_paths(" ".join(f"{type(err).__name__}: {err}".split()))
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a started load has finished (either way); True when nothing is loading any more."""
        return self._done.wait(timeout) if self._started else True

    def get(self, timeout: float | None = None) -> "EmotionInterpreter":
        """The interpreter, loading it first if needed; raises RuntimeError when loading failed or timed out."""
        self.start()
        if not self._done.wait(timeout):
            raise RuntimeError(f"the model {self.display_name} is still loading; try again in a moment")
        if self._interp is None:
            raise RuntimeError(f"the model {self.display_name} failed to load: {self.error}")
        return self._interp

    def status_markdown(self) -> str:
        """One status line for the page."""
        state = self.state
        if state == "ready":
            interp = self._interp
            labels = ", ".join(next(iter(interp.label_sets.values()), []))
            took = f" · loaded in {self.load_seconds:.1f} s" if self.load_seconds else ""
            return f"{_dot('#16a34a')} **Model ready** · `{self.display_name}` · labels: {labels}{took}"
        if state == "failed":
            error = self.error if len(self.error or "") <= 300 else self.error[:300] + " …"
            return f"{_dot('#dc2626')} **Model failed to load** · `{self.display_name}` · {error}"
        return f"{_dot('#f59e0b')} **Loading the model** · `{self.display_name}` … (uploads wait for it)"


def _warm_up(interp: "EmotionInterpreter") -> None:
    """One tiny classification + generation, so that the first user does not pay the first-call costs
    (measured with SmolLM2 on a busy 2-core CPU: a first classification of 3.6-8 s instead of 2.6 s)."""
    from ..data.synthetic import synthetic_clip

    task = next(iter(interp.label_sets), "emotion")
    interp.interpret(synthetic_clip("normal", "unified", seconds=4.0, fps=20.0), task=task, max_new_tokens=2)


def _dot(colour: str) -> str:
    return f'<span style="color:{colour}">●</span>'


class _SerialTokenizer:
    """A text tokenizer whose calls run one at a time (Hugging Face fast tokenizers keep mutable padding and
    truncation state in Rust and may raise "Already borrowed" when two threads use them at once). Everything else
    is the wrapped tokenizer's."""

    def __init__(self, tokenizer: Any):
        object.__setattr__(self, "_tok", tokenizer)
        object.__setattr__(self, "_lock", threading.RLock())

    def __call__(self, *args, **kwargs):
        with self._lock:
            return self._tok(*args, **kwargs)

    def _locked(self, name: str) -> Callable:
        fn = getattr(self._tok, name)

        def call(*args, **kwargs):
            with self._lock:
                return fn(*args, **kwargs)
        return call

    def __getattr__(self, name: str) -> Any:
        if name in ("encode", "decode", "batch_decode", "apply_chat_template", "convert_ids_to_tokens", "pad"):
            return self._locked(name)
        return getattr(self._tok, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._tok, name, value)


def serialise_tokenizer(interp: "EmotionInterpreter") -> "EmotionInterpreter":
    """Make the interpreter's text tokenizer safe to share between request threads (idempotent); the model's
    forward passes are (eval mode, no gradients, no state kept between calls)."""
    processor = getattr(getattr(interp, "model", None), "processor", None)
    tok = getattr(processor, "tokenizer", None)
    if tok is not None and not isinstance(tok, _SerialTokenizer):
        processor.tokenizer = _SerialTokenizer(tok)
    return interp

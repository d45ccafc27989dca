"""Training recipes: one YAML file = model config + data mixture + the two stages' settings.

Relative paths in a recipe (data folders, output and cache directories) resolve against the recipe file's
folder, never the working directory. ``overrides`` use dotted keys: ``stage2.max_steps=20``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from ..configutil import dataclass_from_dict
from ..model.config import EaiLlmConfig

__all__ = ["DataSource", "Stage1Settings", "Stage2Settings", "TrainRecipe", "load_recipe", "apply_overrides"]

SOURCE_KINDS = ("bandai", "bandai2", "manifest", "folders", "synthetic")
#: The tasks a source may feed (each has its own prompt wording and answer prefix in eai_llm/explain/).
TASKS = ("emotion", "style", "style2")
#: Which tasks each Bandai release carries (dataset-2 has no emotion labels).
_KIND_TASKS = {"bandai": ("emotion", "style"), "bandai2": ("style2",)}


@dataclass
class DataSource:
    """One dataset of the training mixture.

    kind: ``bandai`` (the Bandai Namco dataset-1 folder; ``task`` emotion or style), ``bandai2`` (dataset-2; task
        ``style2``, its 7 styles that are not emotions), ``manifest`` (CSV ``path,label[,group]``), ``folders``
        (per-label subfolders) or ``synthetic`` (procedural clips: ``n_per_class`` x labels x ``layouts``).
    task: one of :data:`TASKS` (the label set and prompt wording of the source's questions).
    weight: sampling weight in the stage-2 mixture (stage 2 draws a source with probability weight / sum).
    """

    name: str
    kind: str
    task: str = "emotion"
    path: str | None = None
    weight: float = 1.0
    balance_normal: bool = False
    n_per_class: int = 4
    layouts: list[str] = field(default_factory=lambda: ["unified"])
    seconds: float = 4.0

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"data source {self.name!r}: kind {self.kind!r}, expected one of {SOURCE_KINDS}")
        if self.task not in TASKS:
            raise ValueError(f"data source {self.name!r}: task {self.task!r}, expected one of {TASKS}")
        if self.task not in _KIND_TASKS.get(self.kind, TASKS):
            raise ValueError(f"data source {self.name!r}: kind {self.kind!r} has no {self.task!r} labels, "
                             f"expected task {' or '.join(_KIND_TASKS[self.kind])}")
        if self.kind != "synthetic" and not self.path:
            raise ValueError(f"data source {self.name!r}: 'path' is required for kind {self.kind!r}")
        if not isinstance(self.weight, (int, float)) or not self.weight > 0 or self.weight == float("inf"):
            raise ValueError(f"data source {self.name!r}: weight must be a finite number > 0, got {self.weight!r}")


@dataclass
class Stage1Settings:
    """Skeleton-language alignment of the skeleton tokenizer (contrastive + auxiliary classification)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    contrastive_weight: float = 1.0
    classification_weight: float = 1.0
    temperature: float = 0.07
    text_encoder: str = "minilm"
    balance_classes: bool = True              # sample windows inversely to their label's frequency
    skip: bool = False
    label_smoothing: float = 0.0
    # augmentation (training/augment.py), 0 = off: max yaw turn (degrees), +-scale, +-speed, joint drop probability
    augment_rotate: float = 0.0
    augment_scale: float = 0.0
    augment_speed: float = 0.0
    augment_joint_dropout: float = 0.0
    # start from a pretrained skeleton tokenizer (a folder such as ../tokenizers/bandai2-style, resolved against the
    # recipe's folder): its encoder weights and input standardisation are kept, the heads are rebuilt for this
    # recipe's labels; its architecture must equal model.tokenizer's (training/pretrained.py)
    init_from: str | None = None
    # the names of the sources stage 1 trains on (default: all); stage 2 still draws from every source
    sources: list[str] | None = None
    # self-distillation (training/distill.py; Deng et al. 2021): >= 2 = train this many teachers (seeds seed,
    # seed+1, ...), then the tokenizer as their student on the teachers' mean probabilities; 0 = off
    distill_members: int = 0
    distill_weight: float = 0.5               # student loss: weight of the soft-label term (1 - it: the hard labels)
    # an ensemble head (model/heads.py): >= 2 = the model carries this many classification heads, its own tokenizer
    # and the teachers of seeds seed+1 .. seed+K-1 (trained like distillation's, shared with it); 0 = off
    head_members: int = 0


@dataclass
class Stage2Settings:
    """LoRA tuning of the LLM with projector (and, optionally, the skeleton tokenizer at ``tokenizer_lr``)."""

    epochs: float = 2.0
    max_steps: int | None = None
    batch_size: int = 8
    lr: float = 2e-4
    tokenizer_lr: float = 0.0                 # 0 = skeleton tokenizer frozen
    distill_weight: float = 0.0               # > 0: the LLM's label also learns the head's probabilities (distill.py)
    train_projector: bool = True              # False = projector frozen (e.g. continue tuning LoRA only)
    weight_decay: float = 0.0
    warmup_steps: int = 10
    kinds: dict[str, float] = field(default_factory=lambda: {"classify": 1.0, "explain": 1.0, "describe": 0.25})
    checkpoint_every: int = 100
    log_every: int = 10

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - {"classify", "explain", "describe"})
        if unknown or not self.kinds or min(self.kinds.values()) < 0 or sum(self.kinds.values()) <= 0:
            raise ValueError(f"stage2.kinds: expected positive weights for classify/explain/describe, got {self.kinds}")
        if self.batch_size < 1 or (self.max_steps is not None and self.max_steps < 1):
            raise ValueError("stage2: batch_size and max_steps must be >= 1")
        if not self.distill_weight >= 0:
            raise ValueError(f"stage2.distill_weight: expected a weight >= 0, got {self.distill_weight}")


@dataclass
class TrainRecipe:
    model: EaiLlmConfig
    sources: list[DataSource]
    stage1: Stage1Settings = field(default_factory=Stage1Settings)
    stage2: Stage2Settings = field(default_factory=Stage2Settings)
    output_dir: str = "runs/model"
    cache_dir: str = ".cache/eai_llm"
    exclude_groups: list[str] = field(default_factory=list)
    mirror: bool = True
    # smaller-rig augmentation: each training window is re-expressed, with probability reexpress_p, in one of
    # reexpress_layouts drawn uniformly (skeleton/reexpress.py: joints the rig lacks are masked); 0 = off
    reexpress_p: float = 0.0
    reexpress_layouts: list[str] = field(default_factory=lambda: ["h36m_17", "kinect_v2", "emotion_gait_16"])
    seed: int = 0
    base_dir: str = "."                        # folder the recipe's relative paths resolve against

    def __post_init__(self) -> None:
        from ..skeleton.errors import LayoutError
        from ..skeleton.layouts import get_layout

        if not 0.0 <= self.reexpress_p <= 1.0:
            raise ValueError(f"reexpress_p must be in [0, 1], got {self.reexpress_p}")
        if self.reexpress_p > 0 and not self.reexpress_layouts:
            raise ValueError("reexpress_layouts must name at least one layout when reexpress_p > 0")
        for name in self.reexpress_layouts:
            try:
                get_layout(name)
            except (LayoutError, KeyError, ValueError) as err:
                raise ValueError(f"reexpress_layouts: unknown layout {name!r} ({str(err).splitlines()[0]})") from None

    def resolve(self, path: str | None) -> Path | None:
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else (Path(self.base_dir) / p).resolve()


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML) to a recipe mapping."""
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected key=value, e.g. stage2.max_steps=20")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {p!r} is not a mapping")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def recipe_from_dict(data: dict, *, base_dir: str | Path = ".", source: str = "<recipe>") -> TrainRecipe:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping at the top level")
    data = dict(data)
    known = {f.name for f in fields(TrainRecipe)} - {"base_dir"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}, expected some of {sorted(known)}")
    if not data.get("sources"):
        raise ValueError(f"{source}: 'sources' must list at least one data source")
    model = EaiLlmConfig.from_dict(data.pop("model", {}) or {}, source=f"{source}: model")
    sources = []
    for i, s in enumerate(data.pop("sources")):
        where = f"{source}: sources[{i}]"
        try:
            sources.append(dataclass_from_dict(DataSource, s, where))
        except ValueError as err:   # __post_init__ checks: name the recipe file too, on one line
            raise ValueError(str(err) if str(err).startswith(where) else f"{where}: {err}") from None
    stage1 = dataclass_from_dict(Stage1Settings, data.pop("stage1", None), f"{source}: stage1")
    stage2 = dataclass_from_dict(Stage2Settings, data.pop("stage2", None), f"{source}: stage2")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: data source names must be unique, got {names}")
    if stage1.sources is not None:
        unknown = sorted(set(stage1.sources) - set(names))
        if unknown or not stage1.sources:
            raise ValueError(f"{source}: stage1.sources must name some of the data sources {names}, got "
                             f"{stage1.sources}")
    if stage1.head_members == 1 or stage1.head_members < 0:
        raise ValueError(f"{source}: stage1.head_members must be 0 (off) or >= 2, got {stage1.head_members}")
    if stage1.distill_members == 1 or stage1.distill_members < 0 or not 0 <= stage1.distill_weight <= 1:
        raise ValueError(f"{source}: stage1.distill_members must be 0 (off) or >= 2 and stage1.distill_weight in "
                         f"[0, 1], got {stage1.distill_members} and {stage1.distill_weight}")
    try:
        return TrainRecipe(model=model, sources=sources, stage1=stage1, stage2=stage2, base_dir=str(base_dir), **data)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> TrainRecipe:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: recipe not found") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    data = apply_overrides(data or {}, overrides)
    return recipe_from_dict(data, base_dir=path.resolve().parent, source=str(path))

"""A study plan: groups of `compare` grids with a fixed budget, the evaluations to run on each
cell's last checkpoint, and the claims to test. Read from YAML (`patchswap/configs/studies/`)
and checked completely, every recipe, option and claim, before any cell trains.

    title: Label noise (Table 14)
    about: what the plan measures and why this budget
    kind: confirmatory                             # default; or exploratory (see below)
    seeds: [10, 11, 12, 13, 14, 15, 16, 17]        # a confirmatory plan needs 8 or more
    vary: [init, subset, noise]                    # what a seed draws (default: all three)
    set: [data.samples_per_class=500, epochs=10]   # the budget, fixed before the run
    evaluations: [gap, calibration]                # top-1 always; see EVALUATIONS
    suite: {epsilons: [0, 0.01, 0.05], test_subset: 2000}  # optional: the suite's budget
    groups:
      - name: noise 40%
        recipes: [fashion_mnist/noisy/hard_label_40, fashion_mnist/noisy/patchswap_40]
        set: []                                    # optional, on top of the plan's
        sweep: method.p=0.25,0.5                   # optional, as `compare --sweep`
      - name: segmentation                         # a dense group: transfer (see below)
        recipes: [scenes/deeplabv3plus_resnet8]
        backbones: noise 40%                       # each row's last.pt, seed by seed
        scenes: {train: 500, val: 100, test: 500}  # Fashion-MNIST scenes drawn per seed
    claims:
      - claim: patch swap beats hard label under 40% noise
        source: paper                              # or hypothesis (with an optional note)
        citation: {table: 14, dataset: CIFAR-100, architecture: ResNet18, row: 40% noise,
                   baseline_value: 63.47, method_value: 65.57}   # see study/citation.py
        group: noise 40%
        row: patchswap_40                          # a row label as `compare` prints it
        against: hard_label_40                     # optional: the group's hard-label row
        against_group: noise 40%                   # optional: `against` from another group
        metric: last_top1
        expect: higher                             # higher | lower
    executor: {partition: gpu, time: 240, gpus_per_cell: 1}  # optional: for --executor slurm
    analysis:                                      # optional: a rule across the groups
      outcome: {name: gain, metric: last_top1, row: patchswap_40, minus: hard_label_40}
      predictors:
        - {name: hard label's fit of the flipped labels, metric: train_top1_flipped,
           row: hard_label_40}

A seed always drives the initialization and batch order (`init`); `subset` makes it also
draw the training subset and the held-out split (`data.subset_seed`), `noise` the label-noise
flips (`data.label_noise.seed`, in recipes with label noise). A confirmatory plan must be
committed before it runs (`registration`); `kind: exploratory` may run uncommitted, and its
verdicts are labelled exploratory wherever they are cited. `executor:` holds the settings of
`--executor slurm` (`slurm.KEYS`); it is used only with that flag, and an `--executor-config`
file overrides it key by key.

A dense group (segmentation or detection recipes) measures transfer: `backbones: G` trains its
recipes once per row of the earlier classification group G, each seed on the last checkpoint of
G's cell of the same seed (`model.weights`), its rows named `<recipe> (<G's row> backbone)` and
the first the reference. `scenes:` gives it Fashion-MNIST scenes (`patchswap scenes`; shared
by the plan's groups of the same counts), written before it trains: with `subset` in `vary` one
set per seed (the seed draws the scenes), else one for all. Its claims name its scores
(`last_miou`, `best_miou`, `last_pixel_accuracy`; `last_map`, `best_map`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..compare.grid import Cell, Sweep, plan_grid, slug
from ..errors import ConfigError
from ..evaluation.run_metrics import SuiteBudget, metric_names, parse_evaluations
from ..scores import score_keys, task_of
from ..slurm import check_settings
from .citation import SOURCES, Citation, parse_citation

KINDS = ("confirmatory", "exploratory")
VARY = ("init", "subset", "noise")
CONFIRMATORY_SEEDS = 8


@dataclass
class Group:
    name: str
    recipes: list[str]
    overrides: list[str] = field(default_factory=list)
    sweep: str | None = None
    cells: list[Cell] = field(default_factory=list)
    backbones: str | None = None  # a dense group: the classification group it transfers
    scenes: dict[str, Any] | None = None  # a dense group: its scenes' counts (_scene_counts)

    @property
    def rows(self) -> list[str]:
        return list(dict.fromkeys(cell.row for cell in self.cells))

    @property
    def task(self) -> str:
        return task_of(self.cells[0].cfg)

    def scores(self, plan_metrics: list[str]) -> list[str]:
        """What the group measures per seed: the plan's metrics, or a dense task's scores."""
        if self.task == "classification":
            return plan_metrics
        return score_keys(self.task)


@dataclass
class Claim:
    claim: str
    source: str  # paper | hypothesis
    group: str
    row: str
    metric: str
    expect: str
    against: str | None = None  # None: the group's reference (hard-label) row
    against_group: str | None = None  # the group of `against`, when not `group`
    citation: Citation | None = None  # a paper claim's table or figure
    note: str | None = None  # a hypothesis's context

    @property
    def quoted(self) -> str:
        """What the paper says, or that the question is the study's own."""
        if self.citation is not None:
            return self.citation.text()
        return f"hypothesis{f': {self.note}' if self.note else ''}"


@dataclass
class Quantity:
    """A per-group number: the mean of `metric` over `row`'s seeds, minus `minus`'s if given."""

    name: str
    metric: str
    row: str
    minus: str | None = None


@dataclass
class Analysis:
    """Pre-registered: the outcome fitted against each predictor across the plan's groups."""

    outcome: Quantity
    predictors: list[Quantity]


@dataclass
class Plan:
    name: str  # the file stem: docs/study/<name>/ and runs/study/<name>/
    path: Path
    title: str
    about: str
    seeds: list[int]
    overrides: list[str]
    evaluations: list[str]
    groups: list[Group]
    claims: list[Claim]
    suite: SuiteBudget = field(default_factory=SuiteBudget)
    kind: str = "confirmatory"
    vary: tuple[str, ...] = VARY
    output_dir: Path = Path("runs/study")  # the cells live in <output_dir>/<name>/
    analysis: Analysis | None = None
    executor: dict = field(default_factory=dict)  # --executor slurm settings (slurm.KEYS)

    @property
    def cells_dir(self) -> Path:
        return self.output_dir / self.name

    @property
    def metrics(self) -> list[str]:
        return metric_names(self.evaluations)


_PLAN_KEYS = {
    "title", "about", "kind", "seeds", "vary", "set", "evaluations", "suite", "groups", "claims",
    "analysis", "executor",
}  # fmt: skip
_QUANTITY_KEYS = {"name", "metric", "row", "minus"}
_SUITE_KEYS = {"epsilons", "test_subset"}
_GROUP_KEYS = {"name", "recipes", "set", "sweep", "backbones", "scenes"}
_SCENES_KEYS = {"train", "val", "test", "fashion_mnist"}
SCENE_SPLITS = ("train", "val", "test")
_CLAIM_KEYS = {
    "claim", "source", "citation", "note", "group", "row", "against", "against_group", "metric",
    "expect",
}  # fmt: skip


def _mapping(value: object, where: str, known: set[str], required: set[str]) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping with keys {', '.join(sorted(known))}")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid: {', '.join(sorted(known))}")
    missing = sorted(required - set(value))
    if missing:
        raise ConfigError(f"{where}: missing key {missing[0]!r}")
    return value


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings, e.g. [epochs=10]")
    return list(value)


def load_plan(path: str | Path, output_dir: Path) -> Plan:
    """Read and check a plan; every cell is planned (recipes and options validated) here."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study plan {str(path)!r} does not exist; see `patchswap list plans`")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"study plan {str(path)!r} is not valid YAML: {err}") from None
    where = f"study plan {path.name}"
    raw = _mapping(raw, where, _PLAN_KEYS, {"title", "seeds", "groups"})
    seeds = raw["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds):
        raise ConfigError(f"{where}: seeds={seeds!r} must list at least 1 integer seed (use 3+)")
    kind = raw.get("kind", "confirmatory")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind={kind!r} must be one of {', '.join(KINDS)}")
    if kind == "confirmatory" and len(set(seeds)) < CONFIRMATORY_SEEDS:
        raise ConfigError(
            f"{where}: a confirmatory plan needs at least {CONFIRMATORY_SEEDS} seeds, it has "
            f"{len(set(seeds))}; add seeds or mark it `kind: exploratory`"
        )
    vary = _vary(raw.get("vary", list(VARY)), where)
    evaluations = parse_evaluations(_strings(raw.get("evaluations", []), "evaluations"), where)
    overrides = _strings(raw.get("set", []), f"{where}: set")
    suite = _suite_budget(raw.get("suite", {}), f"{where}: suite")
    executor = check_settings(raw.get("executor", {}), f"{where}: executor")
    if not isinstance(raw["groups"], list) or not raw["groups"]:
        raise ConfigError(f"{where}: groups must be a non-empty list")
    groups = []
    for number, entry in enumerate(raw["groups"], 1):
        entry = _mapping(entry, f"{where}: group {number}", _GROUP_KEYS, {"name", "recipes"})
        group = Group(
            str(entry["name"]),
            _strings(entry["recipes"], f"{where}: group {entry['name']!r} recipes"),
            _strings(entry.get("set", []), f"{where}: group {entry['name']!r} set"),
            entry.get("sweep"),
        )
        if any(g.name == group.name for g in groups):
            raise ConfigError(f"{where}: two groups are named {group.name!r}")
        folder = output_dir / path.stem / slug(group.name)
        group_where = f"{where}: group {group.name!r}"
        sweep: str | Sweep | None = group.sweep
        extra: list[str] = []
        if "backbones" in entry:
            group.backbones = str(entry["backbones"])
            sweep = _backbone_sweep(group, groups, seeds, group_where)
        if "scenes" in entry:
            group.scenes = _scene_counts(entry["scenes"], f"{group_where}: scenes")
            extra = [f"data.root={scenes_root(output_dir / path.stem, group.scenes, vary)}"]
        try:
            group.cells = plan_grid(
                group.recipes, seeds, sweep, overrides + group.overrides + extra, folder, vary
            )
        except ConfigError as err:
            raise ConfigError(f"{group_where}: {err}") from None
        _check_dense(group, vary, group_where)
        groups.append(group)
    plan = Plan(
        path.stem,
        path,
        str(raw["title"]),
        str(raw.get("about", "")).strip(),
        seeds,
        overrides,
        evaluations,
        groups,
        [],
        suite,
        kind,
        vary,
        output_dir,
        executor=executor,
    )
    plan.claims = [_claim(entry, plan, where) for entry in raw.get("claims", [])]
    if "analysis" in raw:
        plan.analysis = _analysis(raw["analysis"], plan, f"{where}: analysis")
    return plan


def scenes_root(cells_dir: Path, counts: dict[str, Any], vary: tuple[str, ...]) -> str:
    """Where a dense group's scenes live, shared by the plan's groups of the same counts: one
    set per seed when a seed draws the data (`{seed}`), else one."""
    name = "scenes-" + "-".join(f"{split}{counts[split]}" for split in SCENE_SPLITS)
    return str(cells_dir / (f"{name}-seed{{seed}}" if "subset" in vary else name))


def _backbone_sweep(group: Group, earlier: list[Group], seeds: list[int], where: str) -> Sweep:
    """`model.weights` swept over the rows of the classification group `group.backbones`:
    each value the last.pt of that row's cell of the seed (`{seed}`)."""
    if group.sweep:
        raise ConfigError(f"{where}: backbones and sweep do not combine; give one of them")
    source = next((g for g in earlier if g.name == group.backbones), None)
    if source is None or source.task != "classification":
        valid = ", ".join(repr(g.name) for g in earlier if g.task == "classification")
        raise ConfigError(
            f"{where}: backbones={group.backbones!r} must name an earlier classification group "
            f"(earlier: {valid or 'none'})"
        )
    values, labels = [], []
    for row in source.rows:
        cell = next(c for c in source.cells if c.row == row and c.seed == seeds[0])
        name = f"{cell.folder.name.rsplit('_seed', 1)[0]}_seed{{seed}}"
        values.append(str(cell.folder.parent / name / "last.pt"))
        labels.append(f"{row} backbone")
    if any("," in value for value in values):
        raise ConfigError(f"{where}: the cells' folder {source.cells[0].folder.parent} holds a "
                          "comma; pick another --output-dir")  # fmt: skip
    return Sweep("model.weights", values, labels)


def _scene_counts(entry: object, where: str) -> dict[str, Any]:
    """`{train, val, test}` scenes to write, and `fashion_mnist`: where Fashion-MNIST is read
    (a `data.root`; default the project's)."""
    entry = _mapping(entry, where, _SCENES_KEYS, {"train", "test"})
    counts: dict[str, Any] = {split: entry.get(split, 0) for split in SCENE_SPLITS}
    whole = all(type(v) is int and v >= 0 for v in counts.values())
    if not whole or not counts["train"] or not counts["test"]:
        raise ConfigError(
            f"{where}: {counts} must be whole numbers of scenes, train and test at least 1, "
            "e.g. {train: 500, val: 100, test: 500}"
        )
    if entry.get("fashion_mnist") is not None:
        counts["fashion_mnist"] = str(entry["fashion_mnist"])
    return counts


def _check_dense(group: Group, vary: tuple[str, ...], where: str) -> None:
    """A dense group transfers backbones onto scenes its seeds can draw."""
    if group.task == "classification":
        if group.backbones or group.scenes:
            raise ConfigError(f"{where}: backbones and scenes are for dense (transfer) groups")
        return
    names = sorted({c.cfg.data.name for c in group.cells})
    if group.scenes and names != ["scenes"]:
        raise ConfigError(f"{where}: scenes: needs recipes on scenes data, these read {names}")
    if "subset" in vary and not group.scenes:
        raise ConfigError(
            f"{where}: its seeds cannot draw a fixed {group.task} set; give the group `scenes:` "
            "(Fashion-MNIST scenes per seed) or drop subset from the plan's vary"
        )


def _quantity(entry: object, plan: Plan, where: str) -> Quantity:
    entry = _mapping(entry, where, _QUANTITY_KEYS, {"name", "metric", "row"})
    quantity = Quantity(**{k: str(v) for k, v in entry.items()})
    if quantity.metric not in plan.metrics:
        raise ConfigError(
            f"{where} names metric {quantity.metric!r}; this plan measures: "
            f"{', '.join(plan.metrics)}"
        )
    for group in plan.groups:
        for row in (quantity.row, quantity.minus):
            if row is not None and row not in group.rows:
                raise ConfigError(
                    f"{where} names row {row!r}, which group {group.name!r} lacks (rows: "
                    f"{', '.join(group.rows)}); an analysis reads the same rows in every group"
                )
    return quantity


def _analysis(entry: object, plan: Plan, where: str) -> Analysis:
    entry = _mapping(entry, where, {"outcome", "predictors"}, {"outcome", "predictors"})
    predictors = entry["predictors"]
    if not isinstance(predictors, list) or not predictors:
        raise ConfigError(f"{where}: predictors must be a non-empty list")
    if len(plan.groups) < 3:
        raise ConfigError(f"{where}: fitting a line across settings needs 3 or more groups")
    return Analysis(
        _quantity(entry["outcome"], plan, f"{where}: outcome"),
        [_quantity(p, plan, f"{where}: predictor {i}") for i, p in enumerate(predictors, 1)],
    )


def _suite_budget(entry: object, where: str) -> SuiteBudget:
    entry = _mapping(entry, where, _SUITE_KEYS, set())
    epsilons = entry.get("epsilons", SuiteBudget.epsilons)
    if not isinstance(epsilons, (list, tuple)) or not all(
        isinstance(e, (int, float)) and not isinstance(e, bool) for e in epsilons
    ):
        raise ConfigError(
            f"{where}: epsilons={epsilons!r} must be a list of numbers, e.g. [0, 0.01]"
        )
    budget = SuiteBudget(tuple(float(e) for e in epsilons), entry.get("test_subset"))
    budget.check(where)
    return budget


def _vary(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not set(value) <= set(VARY) or "init" not in value:
        raise ConfigError(
            f"{where}: vary={value!r} must list what a seed draws: init (always), and any of "
            "subset, noise"
        )
    return tuple(v for v in VARY if v in value)


def plan_title(path: Path) -> str:
    """A plan file's title, for listings (the plan itself is not checked here)."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    return str(raw.get("title", "")) if isinstance(raw, dict) else ""


def _claim(entry: object, plan: Plan, where: str) -> Claim:
    optional = {"against", "against_group", "citation", "note"}
    if isinstance(entry, dict) and "paper" in entry:
        raise ConfigError(
            f"{where}: claim {entry.get('claim')!r}: `paper:` text is replaced by `source: paper`"
            " with a `citation:` mapping (table, dataset, architecture, values), or `source: "
            "hypothesis`"
        )
    entry = _mapping(entry, f"{where}: claim", _CLAIM_KEYS, _CLAIM_KEYS - optional)
    where = f"{where}: claim {entry['claim']!r}"
    citation = entry.pop("citation", None)
    claim = Claim(**{k: str(v) for k, v in entry.items()})
    if claim.source not in SOURCES:
        raise ConfigError(f"{where}: source={claim.source!r} must be paper or hypothesis")
    if claim.source == "paper":
        if citation is None:
            raise ConfigError(f"{where}: a paper claim needs its `citation:` (table or figure)")
        claim.citation = parse_citation(citation, where)
    elif citation is not None:
        raise ConfigError(f"{where}: a hypothesis has no citation; use `note:` for context")
    group = _group(plan, claim.group, where)
    other = _group(plan, claim.against_group or claim.group, where)
    if claim.against_group and claim.against is None:
        raise ConfigError(f"{where}: against_group needs `against`, a row of that group")
    for row, holder in ((claim.row, group), (claim.against, other)):
        if row is not None and row not in holder.rows:
            valid = ", ".join(repr(r) for r in holder.rows)
            raise ConfigError(f"{where} names row {row!r}; rows of {holder.name!r}: {valid}")
    has_reference = (
        group.sweep
        or group.task != "classification"  # a dense group's reference is its first row
        or any(c.cfg.method["name"] == "hard_label" for c in group.cells)
    )
    if claim.against is None and not has_reference:
        raise ConfigError(f"{where}: group {group.name!r} has no hard-label row; set `against`")
    measured = [m for m in group.scores(plan.metrics) if m in other.scores(plan.metrics)]
    if claim.metric not in measured:
        hint = " (add its evaluation to `evaluations`)" if group.task == "classification" else ""
        raise ConfigError(
            f"{where} names metric {claim.metric!r}; group {group.name!r} measures: "
            f"{', '.join(measured)}{hint}"
        )
    if claim.expect not in ("higher", "lower"):
        raise ConfigError(f"{where}: expect={claim.expect!r} must be higher or lower")
    return claim


def _group(plan: Plan, name: str, where: str) -> Group:
    group = next((g for g in plan.groups if g.name == name), None)
    if group is None:
        valid = ", ".join(repr(g.name) for g in plan.groups)
        raise ConfigError(f"{where} names group {name!r}; groups: {valid}")
    return group

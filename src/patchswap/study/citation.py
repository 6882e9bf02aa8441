"""Where a claim comes from, as data: a paper claim cites a table or figure of Choi et al. 2025
with its dataset, architecture and the two values it compares; a hypothesis is the study's
own question. Pages print the citation from these fields, so a quote cannot drift from them.

    source: paper
    citation: {table: 14, dataset: CIFAR-100, architecture: ResNet18, row: 40% noise,
               baseline: Hard Label, baseline_value: 63.47, method: Ours, method_value: 65.57}

    source: hypothesis
    note: not in the paper (it compares at equal epochs)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

SOURCES = ("paper", "hypothesis")
# What the paper has: Tables 1-15, Figures 1-10, sections 1-6 (numbered subsections allowed)
PAPER_TABLES = range(1, 16)
PAPER_FIGURES = range(1, 11)
PAPER_SECTIONS = range(1, 7)

_KEYS = {  # what a plan may write; the *_text fields are derived
    "table",
    "figure",
    "section",
    "dataset",
    "architecture",
    "row",
    "baseline",
    "baseline_value",
    "method",
    "method_value",
    "note",
}


@dataclass(frozen=True)
class Citation:
    """A place in the paper and, where it gives numbers, the two values the claim compares."""

    table: int | None = None
    figure: int | None = None
    section: str | None = None
    dataset: str | None = None
    architecture: str | None = None
    row: str | None = None  # e.g. "40% noise", "eps 0.01"
    baseline: str = "Hard Label"
    baseline_value: float | None = None
    method: str = "Ours"
    method_value: float | None = None
    note: str | None = None
    # the values as the paper prints them ("81.00", "10.6"): quoted exactly, not reformatted
    baseline_text: str | None = None
    method_text: str | None = None

    @property
    def delta(self) -> float | None:
        """The paper's gain: method minus baseline, in the table's units."""
        if self.method_value is None or self.baseline_value is None:
            return None
        return round(self.method_value - self.baseline_value, 4)

    @property
    def place(self) -> str:
        if self.table is not None:
            return f"Table {self.table}"
        if self.figure is not None:
            return f"Fig. {self.figure}"
        return f"section {self.section}"

    def text(self) -> str:
        """`Table 14 (CIFAR-100, ResNet18, 40% noise): Hard Label 63.47 -> Ours 65.57 (+2.10)`."""
        where = ", ".join(x for x in (self.dataset, self.architecture, self.row) if x)
        out = f"{self.place} ({where})" if where else self.place
        if self.delta is not None:
            out += (
                f": {self.baseline} {self.baseline_text} -> {self.method} {self.method_text} "
                f"({self.delta:+.2f})"
            )
        else:
            out += f": {self.method} vs {self.baseline}"
        return out + (f"; {self.note}" if self.note else "")


def parse_citation(entry: object, where: str) -> Citation:
    """A citation mapping, checked: one place that exists in the paper, both values or none."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: citation must be a mapping, e.g. {{table: 14, ...}}")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: citation key {unknown[0]!r} unknown; valid: {sorted(_KEYS)}")
    places = [k for k in ("table", "figure", "section") if entry.get(k) is not None]
    if len(places) != 1:
        raise ConfigError(f"{where}: a citation names exactly one of table, figure or section")
    number_of = {"table": PAPER_TABLES, "figure": PAPER_FIGURES}
    place = places[0]
    if place in number_of and entry[place] not in number_of[place]:
        last = number_of[place][-1]
        raise ConfigError(f"{where}: the paper has no {place} {entry[place]!r} (1-{last})")
    if place == "section":
        top = str(entry["section"]).split(".")[0]
        if not top.isdigit() or int(top) not in PAPER_SECTIONS:
            raise ConfigError(f"{where}: the paper has no section {entry['section']!r} (1-6)")
    if (entry.get("baseline_value") is None) != (entry.get("method_value") is None):
        raise ConfigError(f"{where}: give both baseline_value and method_value, or neither")
    for key in ("baseline_value", "method_value"):
        value = entry.get(key)
        try:
            ok = value is None or (not isinstance(value, bool) and float(value) == float(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(
                f'{where}: citation {key}={value!r} must be a number (quote it, e.g. "81.00", '
                "to keep the paper's digits)"
            )
    if place != "section" and not (entry.get("dataset") and entry.get("architecture")):
        raise ConfigError(f"{where}: a table or figure citation names its dataset and architecture")
    values = {k: v for k, v in entry.items() if v is not None}
    if "section" in values:
        values["section"] = str(values["section"])
    for side in ("baseline", "method"):
        if f"{side}_value" in values:
            values[f"{side}_text"] = str(values[f"{side}_value"])
            values[f"{side}_value"] = float(values[f"{side}_value"])
    return Citation(**values)

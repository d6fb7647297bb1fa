"""Indicator frameworks as data: the schema of accounting/frameworks/*.yaml, validated on load.

A framework file names its source document and lists indicators. Each indicator says how its
value is obtained (`metric`, see accounting/indicators.py) and what it must reach (`targets`).
A target may apply only to a horizon (near / far / 2030), a tier of annual energy use
(energy_tce_min inclusive, energy_tce_max exclusive, electricity at 等价值), a park type or a
framework variant (e.g. one of the Yangzhou parks).
"""

from enum import StrEnum
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from lingtan.accounting.resources import framework_names, package_yaml
from lingtan.kernel.config import format_errors
from lingtan.kernel.park import Frozen


class FrameworkError(ValueError):
    """A framework file that cannot be used, or a framework that does not exist."""


class Kind(StrEnum):
    CORE = "core"  # 核心指标: must be met (national, Jiangxi)
    GUIDANCE = "guidance"  # 引导指标
    PRINCIPLE = "principle"  # a stated principle of the method, reported for information
    CONSTRAINT = "constraint"  # 约束性指标 (Wuxi)
    REFERENCE = "reference"  # 重要参考指标 (Wuxi)
    INCENTIVE = "incentive"  # 激励性指标 (Wuxi)
    TARGET = "target"  # a plan's stated target (Jiangsu guide, Hunan, Yangzhou)


class Comparator(StrEnum):
    LE = "<="
    GE = ">="
    EQ = "="
    QUALITATIVE = "qualitative"  # met / not met, reported as true / false
    INFO = "info"  # stated requirement without a figure to check


class Target(Frozen):
    value: float | None = None
    text: str = ""
    horizon: str | None = None
    energy_tce_min: float | None = Field(None, ge=0)
    energy_tce_max: float | None = Field(None, gt=0)
    park_type: Literal["chemical", "non_chemical"] | None = None
    variant: str | None = None
    metric: str | None = Field(None, description="overrides the indicator's metric for this target")
    params: dict[str, Any] = {}


class Indicator(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    number: int | None = Field(None, description="row number in the source table")
    name: str
    kind: Kind
    unit: str = ""
    comparator: Comparator
    metric: str
    params: dict[str, Any] = {}
    targets: list[Target] = []
    definition: str = ""
    note: str = ""
    status: str = "P"

    @model_validator(mode="after")
    def _targets(self) -> "Indicator":
        numeric = self.comparator in (Comparator.LE, Comparator.GE, Comparator.EQ)
        for i, t in enumerate(self.targets):
            if numeric and t.value is None:
                raise ValueError(f"indicator {self.id!r}: targets[{i}] needs a value for comparator {self.comparator}")
            if not numeric and not t.text:
                raise ValueError(f"indicator {self.id!r}: targets[{i}] needs a text for comparator {self.comparator}")
        return self


class Source(Frozen):
    document: str
    file: str | None = None
    url: str | None = None
    status: str


class Framework(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    source: Source
    horizons: list[str] = []
    default_horizon: str | None = None
    variants: dict[str, str] = {}
    note: str = ""
    indicators: list[Indicator]

    @model_validator(mode="after")
    def _consistent(self) -> "Framework":
        ids = [i.id for i in self.indicators]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"indicator ids declared twice: {sorted(dup)}")
        if self.default_horizon is not None and self.default_horizon not in self.horizons:
            raise ValueError(f"default_horizon {self.default_horizon!r} is not one of horizons {self.horizons}")
        for ind in self.indicators:
            for i, t in enumerate(ind.targets):
                if t.horizon is not None and t.horizon not in self.horizons:
                    raise ValueError(f"indicator {ind.id!r}: targets[{i}].horizon {t.horizon!r} not in {self.horizons}")
                if t.variant is not None and t.variant not in self.variants:
                    raise ValueError(f"indicator {ind.id!r}: targets[{i}].variant {t.variant!r} "
                                     f"not in {list(self.variants)}")
        return self

    def indicator(self, indicator_id: str) -> Indicator:
        for i in self.indicators:
            if i.id == indicator_id:
                return i
        raise KeyError(indicator_id)


def parse_framework(data: Any, source: str, metrics: frozenset[str]) -> Framework:
    """Validate a parsed framework; every metric named must be one the evaluator knows."""
    try:
        fw = Framework.model_validate(data)
    except ValidationError as exc:
        raise FrameworkError(format_errors(exc, source)) from exc
    for ind in fw.indicators:
        for m in [ind.metric, *(t.metric for t in ind.targets if t.metric)]:
            if m not in metrics:
                raise FrameworkError(f"{source}: indicator {ind.id!r}: metric {m!r} unknown; known: {sorted(metrics)}")
    return fw


def framework_data(name: str) -> Any:
    if name not in framework_names():
        raise FrameworkError(f"framework {name!r}: unknown; shipped frameworks are {framework_names()}")
    try:
        return package_yaml(f"frameworks/{name}.yaml")
    except yaml.YAMLError as exc:
        raise FrameworkError(f"accounting/frameworks/{name}.yaml: not valid YAML: {exc}") from exc

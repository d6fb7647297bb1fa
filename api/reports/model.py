"""A report as data: what the XLSX and the PDF renderers both draw from.

A report is built once from the core numbers (the same services the API's routes use) and then
rendered; the renderers never compute a figure. Every label comes in both languages, so one
built report renders in Chinese or English.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

Cell = float | int | str | date | datetime | None
Kind = Literal["text", "number", "percent", "date", "datetime"]


@dataclass(frozen=True)
class Text:
    """One label in both languages."""
    zh: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class Column:
    key: str
    label: Text
    kind: Kind = "number"
    unit: str | None = None      # shown in the header: "电量 (kWh)"; None for text columns
    digits: int = 2              # decimal places shown (XLSX number format, PDF text)
    width: int | None = None     # characters; None lets the renderer choose from the content


@dataclass(frozen=True)
class Table:
    """One sheet of the XLSX, one table of the PDF."""
    key: str                                  # sheet-safe id, e.g. "monthly", "annex4"
    title: Text
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Cell], ...]         # values by column key; text cells may be Text
    total: dict[str, Cell] | None = None      # a totals row drawn under the rows, or None
    note: Text | None = None                  # shown under the table (sources, rules)


@dataclass(frozen=True)
class Chart:
    """A chart the PDF draws (the XLSX leaves charts to the reader's spreadsheet)."""
    key: str
    title: Text
    kind: Literal["bar", "line", "hbar"]
    categories: tuple[Text | str, ...]        # x axis (bar, line) or y axis (hbar)
    series: tuple[tuple[Text, tuple[float | None, ...]], ...]  # name, one value per category
    unit: str


@dataclass(frozen=True)
class Report:
    kind: str                                 # "park-monthly", "keu-monthly", "annex4-annual", "jiangxi-annex1"
    title: Text
    park_id: str
    park_name: str
    period: Text                              # "2026年11月" / "November 2026"
    generated_at: datetime                    # aware, the park's time zone
    facts: tuple[tuple[Text, Cell | Text, str | None], ...] = ()  # headline label, value, unit
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    notes: tuple[Text, ...] = field(default=())  # method, switches, sources, data completeness
    warning: Text | None = None               # shown on page 1 above the figures (e.g. data incomplete)

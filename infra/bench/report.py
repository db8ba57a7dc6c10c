"""Rows of the report: a measured value against a baseline from the same run, a target, a verdict.

Every comparison is paired: the measured thing and its baseline run back to back (in alternating order), and
the row keeps the median of the per-pair ratios or differences. Load from other work on the machine slows
both halves of a pair alike, so it cancels in the pair instead of landing on whichever side ran during it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Comparison = Literal["<=", "<"]


def paired_ratio(measured: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of ``measured[i] / baseline[i]``."""
    _check_pairs(measured, baseline)
    return statistics.median(value / base for value, base in zip(measured, baseline, strict=True))


def paired_delta(measured: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of ``measured[i] - baseline[i]``."""
    _check_pairs(measured, baseline)
    return statistics.median(value - base for value, base in zip(measured, baseline, strict=True))


def _check_pairs(measured: Sequence[float], baseline: Sequence[float]) -> None:
    if not measured or len(measured) != len(baseline):
        raise ValueError(f"need pairs: {len(measured)} measured against {len(baseline)} baseline samples")
    if any(base <= 0 for base in baseline):
        raise ValueError("a baseline sample must be positive")


def ratio_note(measured: Sequence[float], baseline: Sequence[float]) -> str:
    """How the per-pair ratios spread, and the plain ratio of the two medians: when these disagree with the
    row's result, the machine was too busy for its last digit."""
    ratios = [value / base for value, base in zip(measured, baseline, strict=True)]
    middle = f"{percentile(ratios, 0.25):.2f}-{percentile(ratios, 0.75):.2f}x"
    medians = statistics.median(measured) / statistics.median(baseline)
    return f"median of {len(ratios)} pairs, middle half {middle}; ratio of the medians {medians:.2f}x"


def median_ms(seconds: Sequence[float]) -> float:
    return statistics.median(seconds) * 1000


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The sample at ``fraction`` of the sorted samples (nearest rank; 0.5 of an even count takes the upper)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1) + 1e-9)))]


def ordered_pair(index: int, first: str, second: str) -> tuple[str, str]:
    """Which of two runs goes first in round ``index``: alternately, so neither always has the warmer cache."""
    return (first, second) if index % 2 == 0 else (second, first)


@dataclass(frozen=True)
class Target:
    limit: float
    unit: str
    """``x`` for a ratio, ``ms``, ``MB``: printed after the number."""
    comparison: Comparison = "<="

    def met(self, value: float) -> bool:
        return value <= self.limit if self.comparison == "<=" else value < self.limit

    def __str__(self) -> str:
        return f"{self.comparison} {self.limit:g}{'' if self.unit == 'x' else ' '}{self.unit}"


def format_value(value: float, unit: str, *, signed: bool = False) -> str:
    sign = "+" if signed else ""
    if unit == "x":
        # Three decimals, so a ratio just over its target never reads as equal to it.
        return f"{value:{sign}.3f}x"
    if unit in {"ms", "MB"}:
        return f"{value:{sign}.1f} {unit}"
    return f"{value:{sign}g} {unit}"


@dataclass(frozen=True)
class Row:
    """One line of the summary. ``result`` is what the target judges (a ratio, a difference or an amount);
    None means it could not be measured in this run, and ``note`` says why. A row with no target is context
    for the others (``unit`` then says how to print its result) and counts in no tally."""

    name: str
    measured: str
    baseline: str
    result: float | None
    target: Target | None
    signed: bool = False
    """The result is a difference from the baseline, printed with its sign."""
    note: str = ""
    unit: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.result is None or self.target is None else self.target.met(self.result)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "no target"
        return {True: "met", False: "MISSED", None: "not measured"}[self.met]

    @property
    def result_text(self) -> str:
        unit = self.target.unit if self.target else self.unit
        return "-" if self.result is None else format_value(self.result, unit, signed=self.signed)


HEADINGS = ("row", "measured", "baseline", "result", "target", "verdict")


def table(rows: Sequence[Row]) -> list[str]:
    """The summary as aligned text lines: a heading, then one line per row (its note on the line after)."""
    cells = [HEADINGS] + [
        (row.name, row.measured, row.baseline, row.result_text, str(row.target or "-"), row.verdict) for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(HEADINGS))]
    lines = []
    for index, line in enumerate(cells):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if index and rows[index - 1].note:
            lines.append(f"    {rows[index - 1].note}")
    return lines


def tally(rows: Sequence[Row]) -> str:
    rows = [row for row in rows if row.target is not None]
    met = sum(row.met is True for row in rows)
    missed = [row.name for row in rows if row.met is False]
    unmeasured = sum(row.met is None for row in rows)
    text = f"{met} of {len(rows)} targets met"
    if missed:
        text += f"; missed: {', '.join(missed)}"
    if unmeasured:
        text += f"; {unmeasured} not measured"
    return text

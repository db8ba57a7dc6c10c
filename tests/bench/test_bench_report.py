"""The bench's arithmetic and its report lines; nothing here is timed."""

from __future__ import annotations

import pytest

from infra.bench.first_delta import one_by_one
from infra.bench.report import (
    Row,
    Target,
    ordered_pair,
    paired_delta,
    paired_ratio,
    percentile,
    ratio_note,
    table,
    tally,
)


def test_a_load_spike_that_slows_both_halves_of_a_pair_cancels_out() -> None:
    # The third pair ran while the machine was busy: both sides took four times as long.
    measured = [1.1, 1.1, 4.4, 1.1, 1.1]
    baseline = [1.0, 1.0, 4.0, 1.0, 1.0]
    assert paired_ratio(measured, baseline) == pytest.approx(1.1)
    assert paired_delta(measured, baseline) == pytest.approx(0.1)


def test_the_median_of_pairs_ignores_one_pair_hit_on_one_side() -> None:
    measured = [1.2, 1.2, 9.0, 1.2]
    baseline = [1.0, 1.0, 1.0, 1.0]
    assert paired_ratio(measured, baseline) == pytest.approx(1.2)


@pytest.mark.parametrize(
    ("measured", "baseline"),
    [([], []), ([1.0, 2.0], [1.0]), ([1.0], [0.0])],
    ids=["no pairs", "unpaired sample", "zero baseline"],
)
def test_pairs_must_be_whole_and_baselines_positive(measured: list[float], baseline: list[float]) -> None:
    with pytest.raises(ValueError):
        paired_ratio(measured, baseline)


def test_percentile_takes_the_nearest_rank() -> None:
    samples = [float(value) for value in range(1, 21)]
    assert percentile(samples, 0.95) == 19.0
    assert percentile(samples, 0.0) == 1.0
    assert percentile(samples, 1.0) == 20.0


def test_the_ratio_note_shows_the_pairs_spread_and_the_plain_ratio_of_medians() -> None:
    note = ratio_note([1.0, 1.2, 1.4, 1.6], [1.0, 1.0, 1.0, 1.0])
    assert note == "median of 4 pairs, middle half 1.20-1.40x; ratio of the medians 1.30x"


def test_pairs_alternate_which_side_goes_first() -> None:
    assert [ordered_pair(index, "a", "b") for index in range(3)] == [("a", "b"), ("b", "a"), ("a", "b")]


def test_a_strict_target_misses_at_its_limit_and_an_inclusive_one_meets_it() -> None:
    assert Target(1.10, "x").met(1.10)
    assert not Target(1.10, "x").met(1.11)
    assert not Target(15, "ms", "<").met(15.0)
    assert Target(15, "ms", "<").met(14.9)
    assert str(Target(15, "ms", "<")) == "< 15 ms"
    assert str(Target(1.10, "x")) == "<= 1.1x"
    assert str(Target(0, "coalesced")) == "<= 0 coalesced"


def test_verdicts_name_met_missed_and_unmeasured_rows() -> None:
    met = Row("cold import: todo", "700 ms", "650 ms", 1.077, Target(1.10, "x"))
    missed = Row("budget check", "40.0 ms", "6.0 ms", 34.0, Target(15, "ms", "<"), signed=True)
    unmeasured = Row("layer size", "-", "-", None, Target(40, "MB"), note="could not build the layer: no network")
    assert [met.verdict, missed.verdict, unmeasured.verdict] == ["met", "MISSED", "not measured"]
    assert [met.result_text, missed.result_text, unmeasured.result_text] == ["1.077x", "+34.0 ms", "-"]
    assert tally([met, missed, unmeasured]) == "1 of 3 targets met; missed: budget check; 1 not measured"


def test_a_row_without_a_target_is_context_and_counts_in_no_tally() -> None:
    context = Row("warm overhead: todo", "4.7 ms", "4.0 ms", 1.175, None, unit="x")
    met = Row("cold import: todo", "700 ms", "650 ms", 1.077, Target(1.10, "x"))
    assert (context.verdict, context.result_text) == ("no target", "1.175x")
    assert tally([context, met]) == "1 of 1 targets met"


def test_the_table_has_a_line_per_row_with_every_column_and_notes_under_their_row() -> None:
    rows = [
        Row("cold start", "1072 ms", "995 ms (script)", 1.08, Target(1.15, "x")),
        Row("layer size", "-", "-", None, Target(40, "MB"), note="could not build the layer"),
    ]
    heading, first, second, note = table(rows)
    assert heading.split() == ["row", "measured", "baseline", "result", "target", "verdict"]
    assert first.split() == ["cold", "start", "1072", "ms", "995", "ms", "(script)", "1.080x", "<=", "1.15x", "met"]
    assert second.endswith("not measured")
    assert note.strip() == "could not build the layer"
    assert len({line.index("<=") for line in (first, second)}) == 1  # the columns line up


def test_deltas_one_by_one_arrive_about_the_model_s_spacing_apart() -> None:
    assert one_by_one([0.0, 0.075, 0.150, 0.226], tokens=4, gap_seconds=0.075)


def test_one_late_delta_is_jitter_not_coalescing() -> None:
    assert one_by_one([0.0, 0.120, 0.150, 0.226], tokens=4, gap_seconds=0.075)


def test_deltas_held_back_and_sent_together_are_coalesced() -> None:
    assert not one_by_one([0.0, 0.150, 0.151, 0.226], tokens=4, gap_seconds=0.075)


def test_a_missing_delta_is_coalescing_too() -> None:
    assert not one_by_one([0.0, 0.075, 0.150], tokens=4, gap_seconds=0.075)

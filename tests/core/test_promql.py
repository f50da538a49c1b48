"""rate/increase and histogram_quantile against hand-worked Prometheus semantics."""

from __future__ import annotations

import math

import pytest

from monitor.core.promql import extrapolated_rate, histogram_quantile, increase, rate, select_range

INF = "+Inf"


# ---- rate / increase -----------------------------------------------------------------------------

def test_samples_reaching_both_ends_are_not_extrapolated() -> None:
    samples = [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0)]
    assert increase(samples, 30.0, 30.0) == pytest.approx(30.0)
    assert rate(samples, 30.0, 30.0) == pytest.approx(1.0)


def test_extrapolates_to_the_window_start_when_within_1_1_intervals() -> None:
    # First sample 10 s after the window start, interval 10 s: 10 < 11, extrapolate the whole gap.
    samples = [(t, 100.0 + (t - 10.0)) for t in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)]
    assert increase(samples, 60.0, 60.0) == pytest.approx(60.0)
    assert rate(samples, 60.0, 60.0) == pytest.approx(1.0)


def test_extrapolates_half_an_interval_when_the_gap_is_larger() -> None:
    # Samples 30..50 in a window 0..60: start gap 30 >= 11 -> +5; end gap 10 < 11 -> +10.
    samples = [(30.0, 100.0), (40.0, 110.0), (50.0, 120.0)]
    assert increase(samples, 60.0, 60.0) == pytest.approx(20.0 * 35.0 / 20.0)
    assert rate(samples, 60.0, 60.0) == pytest.approx(35.0 / 60.0)


def test_counter_is_not_extrapolated_below_zero() -> None:
    # 5 -> 25 over 20 s: the zero point is 5 s before the first sample, closer than the 10 s gap.
    samples = [(10.0, 5.0), (20.0, 15.0), (30.0, 25.0)]
    assert increase(samples, 30.0, 30.0) == pytest.approx(25.0)


def test_counter_reset_adds_the_value_before_the_reset() -> None:
    samples = [(0.0, 10.0), (10.0, 20.0), (20.0, 5.0), (30.0, 15.0)]
    assert increase(samples, 30.0, 30.0) == pytest.approx(25.0)
    assert rate(samples, 30.0, 30.0) == pytest.approx(25.0 / 30.0)


def test_increase_across_a_reset_is_what_was_counted_after_it() -> None:
    # 50 -> (restart) 0 -> 4: nothing was added before the reset, 4 after it.
    samples = [(0.0, 50.0), (10.0, 0.0), (20.0, 4.0)]
    assert increase(samples, 20.0, 20.0) == pytest.approx(4.0)


def test_gauge_delta_handles_no_resets() -> None:
    samples = [(0.0, 10.0), (10.0, 5.0)]
    assert extrapolated_rate(samples, 10.0, 10.0, is_counter=False, is_rate=False) == pytest.approx(-5.0)


def test_flat_counter_has_rate_zero() -> None:
    assert rate([(0.0, 7.0), (15.0, 7.0), (30.0, 7.0)], 30.0, 30.0) == 0.0


@pytest.mark.parametrize("samples", [[], [(5.0, 1.0)], [(0.0, 1.0), (100.0, 3.0)], [(60.0, 1.0), (60.0, 2.0)]])
def test_fewer_than_two_samples_in_the_window_give_no_rate(samples: list[tuple[float, float]]) -> None:
    assert rate(samples, 100.0, 50.0) is None
    assert increase(samples, 100.0, 50.0) is None


def test_window_includes_a_sample_exactly_at_its_start_and_end() -> None:
    samples = [(49.999, 0.0), (50.0, 1.0), (75.0, 2.0), (100.0, 3.0), (100.001, 9.0)]
    assert select_range(samples, 100.0, 50.0) == [(50_000, 1.0), (75_000, 2.0), (100_000, 3.0)]


def test_unsorted_samples_are_ordered_by_time() -> None:
    assert increase([(30.0, 40.0), (0.0, 10.0), (20.0, 30.0), (10.0, 20.0)], 30.0, 30.0) == pytest.approx(30.0)


def test_range_must_be_positive() -> None:
    with pytest.raises(ValueError, match="range_seconds"):
        rate([(0.0, 1.0), (1.0, 2.0)], 1.0, 0)


# ---- histogram_quantile --------------------------------------------------------------------------

BUCKETS = [("0.1", 10.0), ("0.5", 20.0), ("1", 20.0), (INF, 20.0)]


def test_interpolates_linearly_inside_a_bucket() -> None:
    assert histogram_quantile(0.25, BUCKETS) == pytest.approx(0.05)  # lowest bucket starts at 0
    assert histogram_quantile(0.5, BUCKETS) == pytest.approx(0.1)
    assert histogram_quantile(0.75, BUCKETS) == pytest.approx(0.3)


def test_quantile_in_the_inf_bucket_is_the_second_highest_bound() -> None:
    buckets = [("0.1", 10.0), ("0.5", 20.0), (INF, 40.0)]
    assert histogram_quantile(0.95, buckets) == 0.5
    assert histogram_quantile(1.0, buckets) == 0.5


def test_buckets_are_sorted_by_bound_whatever_their_order_or_spelling() -> None:
    shuffled = [(INF, 20.0), ("1.0", 20.0), ("0.5", 20.0), ("1e-1", 10.0)]
    assert histogram_quantile(0.75, shuffled) == pytest.approx(0.3)
    assert histogram_quantile(0.75, [(float("inf"), 20.0), (0.5, 20.0), (0.1, 10.0)]) == pytest.approx(0.3)


def test_buckets_with_the_same_bound_are_merged() -> None:
    assert histogram_quantile(0.5, [("1", 4.0), ("1.0", 6.0), (INF, 10.0), ("+Inf", 10.0)]) == pytest.approx(1.0)


def test_non_monotonic_counts_are_fixed_to_their_envelope() -> None:
    buckets = [("0.1", 10.0), ("0.5", 8.0), ("1", 20.0), (INF, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.5 + 0.5 * (5 / 10))


def test_a_bucket_dropping_to_zero_is_lifted_not_divided_by() -> None:
    # Seen when a scrape lands mid-update, or rates of buckets across a reset: Go's float division by
    # zero gives +Inf (not "a small delta"); the envelope then lifts the bucket.
    assert histogram_quantile(0.5, [("0.1", 5.0), ("0.5", 0.0), (INF, 5.0)]) == pytest.approx(0.05)


def test_lowest_bucket_with_a_non_positive_bound_returns_that_bound() -> None:
    assert histogram_quantile(0.2, [("-1", 5.0), ("0", 10.0), (INF, 10.0)]) == -1.0


@pytest.mark.parametrize("buckets", [
    [],                                     # no buckets at all
    [("0.1", 1.0), ("0.5", 2.0)],           # no +Inf bucket
    [(INF, 5.0)],                           # fewer than two buckets
    [("0.1", 0.0), (INF, 0.0)],             # no observations
])
def test_undefined_quantiles_are_nan(buckets: list[tuple[str, float]]) -> None:
    assert math.isnan(histogram_quantile(0.95, buckets))


def test_out_of_range_q() -> None:
    assert histogram_quantile(-0.1, BUCKETS) == -math.inf
    assert histogram_quantile(1.1, BUCKETS) == math.inf
    assert math.isnan(histogram_quantile(math.nan, BUCKETS))


def test_bad_le_is_named() -> None:
    with pytest.raises(ValueError, match="le label value 'fast'"):
        histogram_quantile(0.5, [("fast", 1.0), (INF, 1.0)])


def test_quantile_of_rates_as_prometheus_composes_them() -> None:
    # Two scrapes 15 s apart covering a 15 s window: rates are exact increases / 15.
    series = {"0.1": [(0.0, 0.0), (15.0, 30.0)], "0.5": [(0.0, 0.0), (15.0, 45.0)], INF: [(0.0, 0.0), (15.0, 60.0)]}
    rates = [(le, rate(s, 15.0, 15.0)) for le, s in series.items()]
    # rank 0.95 * 4 = 3.8 lies past the 0.5 bucket (3.0): the +Inf bucket -> 0.5.
    assert histogram_quantile(0.95, rates) == 0.5
    # rank 0.6 * 4 = 2.4 in (0.1, 0.5] with 2.0 below and 1.0 inside: 0.1 + 0.4 * 0.4.
    assert histogram_quantile(0.6, rates) == pytest.approx(0.26)

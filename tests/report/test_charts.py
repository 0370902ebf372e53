"""Chart geometry: bars scale to the largest value, long tails fold, burn-down follows scans."""

from __future__ import annotations

from camaudit.report.charts import MAX_BARS, bar_chart, burn_down


def test_bars_scale_to_the_largest_and_sort_largest_first():
    chart = bar_chart("t", {"Dahua": 2, "Hikvision": 4, "ZTE": 0})
    assert [b.full_label for b in chart.bars] == ["Hikvision", "Dahua", "ZTE"]
    assert chart.bars[0].width == 2 * chart.bars[1].width and chart.bars[2].width == 0


def test_many_sites_fold_into_one_others_bar():
    chart = bar_chart("t", {f"site-{i:03d}": 1 for i in range(200)})
    assert len(chart.bars) == MAX_BARS
    assert chart.bars[-1].full_label == f"{200 - MAX_BARS + 1} others"
    assert sum(b.value for b in chart.bars) == 200


def test_burn_down_plots_unresolved_falling_and_remediated_rising(series):
    chart = burn_down(series)
    unresolved, remediated = chart.lines
    assert [p.value for p in unresolved.points] == [20, 18, 13, 6]
    assert [p.value for p in remediated.points] == [0, 2, 7, 14]
    ys = [p.y for p in unresolved.points]
    assert ys == sorted(ys)  # SVG y grows downwards: falling counts, rising y
    assert burn_down([]) is None


def test_a_single_scan_is_drawn_in_the_middle_not_on_the_axis():
    chart = burn_down([{"scan_id": 1, "open": 5, "in_progress": 1, "remediated": 0}])
    point = chart.lines[0].points[0]
    assert point.value == 6 and chart.left < point.x < chart.width - chart.left

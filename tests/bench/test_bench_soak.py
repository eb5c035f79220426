"""The soak's report: growth per chain from what ran, also when --max-seconds cut it short."""

import pytest

from ddpm.bench.soak import SoakReport, chain_request, growth, summary


def test_growth_is_per_chain_run_from_the_first_tenth_to_the_last_reading():
    # 1000 asked, 402 run: RSS read before, after 100, 200, 300, 400 and at the end (402)
    rss, after = [700, 950, 1000, 1050, 1090, 1091], [0, 100, 200, 300, 400, 402]
    report = SoakReport(1000, 402, rss_mb=rss, after=after)
    assert growth(report) == pytest.approx((1091 - 950) / (402 - 100))
    report.growth_mb_per_chain = growth(report)
    text = summary(report)
    assert "402 of 1000 chains" in text and f"{1024 * (1091 - 950) / 302:+.0f} kB per chain" in text


def test_growth_is_unknown_without_two_readings_after_the_first_tenth():
    assert growth(SoakReport(10, 1, rss_mb=[700, 710], after=[0, 1])) is None
    assert growth(SoakReport(10, 5, rss_mb=[700, None, 720], after=[0, 1, 5])) is None


def test_every_chain_has_a_seed_of_its_own_and_the_kinds_take_turns_completed_then_dropped():
    requests = [chain_request(i, 50, {}) for i in range(16)]
    seeds = [inputs["seed"] for _, inputs, _ in requests]
    assert len(set(seeds)) == 16 and 0 not in seeds
    kinds = [name for name, _, _ in requests]
    assert kinds[:8:2] == ["generate", "compare", "classifier_readout", "many_pasts"]
    assert [dropped for _, _, dropped in requests[:4]] == [False, True, False, True]

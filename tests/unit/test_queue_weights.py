"""Queue weights and strict order: parsing, checks, the weighted draw and the cycles."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from activejob_celery.config import Settings
from activejob_celery.errors import ConfigurationError
from activejob_celery.queue_weights import (
    StrictCycle,
    WeightedCycle,
    check_order,
    check_weights,
    draw,
    parse_weights,
)

WEIGHTS = {"critical": 6, "default": 2, "low": 1}
QUEUES = ["low", "default", "critical"]


def test_the_option_text_reads_as_sidekiq_weights():
    assert parse_weights("critical=6,default=2,low=1") == WEIGHTS
    assert parse_weights(" critical = 6 , low=1 ") == {"critical": 6, "low": 1}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("critical:6", "name=weight"),
        ("critical", "name=weight"),
        ("critical=six", "name=weight"),
        ("=6", "name=weight"),
        ("critical=6,,low=1", "name=weight"),
        ("critical=-2", "weight of queue 'critical' is -2"),
        ("critical=6,critical=1", "named twice"),
        ("crit*=6", "no patterns"),
    ],
)
def test_a_malformed_option_is_refused_clearly(text, says):
    with pytest.raises(ConfigurationError, match=f"--queue-weights.*{says}|{says}"):
        parse_weights(text)


@pytest.mark.parametrize(
    "bad",
    [{"low": -1}, {"low": 1.5}, {"low": "3"}, {"low": True}, {}, {1: 2}, 5, ["low"]],
)
def test_bad_weights_in_the_setting_raise_at_init(bad):
    with pytest.raises(ConfigurationError, match="activejob_queue_weights"):
        Settings(queue_weights=bad)


def test_a_weight_of_zero_is_still_polled_as_weight_one():
    # wave2-spec §6: a queue of weight 0 among weighted ones is still polled (Sidekiq's floor of 1).
    assert parse_weights("critical=6,low=0") == {"critical": 6, "low": 1}
    settings = Settings(queue_weights={"critical": 6, "low": 0})
    assert settings.queue_weights == {"critical": 6, "low": 1}


def test_the_setting_takes_a_mapping_sidekiq_pairs_or_the_option_text():
    assert Settings(queue_weights=WEIGHTS).queue_weights == WEIGHTS
    assert Settings(queue_weights=[["critical", 6], ["low", 1]]).queue_weights == {  # type: ignore[arg-type]
        "critical": 6,
        "low": 1,
    }
    assert Settings(queue_weights="critical=6,low=1").queue_weights == {"critical": 6, "low": 1}  # type: ignore[arg-type]
    assert Settings().queue_weights is None and Settings().queue_order is None


def test_the_order_setting_is_checked_with_the_weights():
    assert Settings(queue_order="strict").queue_order == "strict"
    assert check_order("round_robin") == "round_robin"
    with pytest.raises(ConfigurationError, match=r"'weighted'.*'strict'.*'round_robin'"):
        Settings(queue_order="random")
    with pytest.raises(ConfigurationError, match="needs activejob_queue_weights"):
        Settings(queue_order="weighted")
    with pytest.raises(ConfigurationError, match="takes no weights"):
        Settings(queue_order="strict", queue_weights=WEIGHTS)
    assert check_weights({"a": 1}) == {"a": 1}


def test_first_choice_shares_follow_the_weights():
    rng = random.Random(2126)
    firsts = Counter(draw(QUEUES, WEIGHTS, rng)[0] for _ in range(9000))
    shares = {name: firsts[name] / 9000 for name in QUEUES}
    assert shares["critical"] == pytest.approx(6 / 9, abs=0.03)
    assert shares["default"] == pytest.approx(2 / 9, abs=0.03)
    assert shares["low"] == pytest.approx(1 / 9, abs=0.03)


def test_whole_orders_follow_sidekiqs_shuffle_and_dedupe():
    # Sidekiq: each queue repeated weight times, shuffled, first places kept. Exact odds of
    # each whole order: P(a, b, c) = w_a / W * w_b / (W - w_a).
    rng = random.Random(7)
    runs = 18000
    seen = Counter(tuple(draw(QUEUES, WEIGHTS, rng)) for _ in range(runs))
    total = sum(WEIGHTS.values())
    for order in itertools.permutations(QUEUES):
        a, b, _ = order
        expected = WEIGHTS[a] / total * WEIGHTS[b] / (total - WEIGHTS[a])
        assert seen[order] / runs == pytest.approx(expected, abs=0.015), order


def test_equal_weights_draw_uniformly_and_unweighted_queues_count_one():
    rng = random.Random(11)
    firsts = Counter(draw(["a", "b", "c"], {"a": 1, "b": 1}, rng)[0] for _ in range(9000))
    for name in "abc":
        assert firsts[name] / 9000 == pytest.approx(1 / 3, abs=0.03)


def test_a_draw_keeps_every_queue_once():
    rng = random.Random(3)
    for _ in range(200):
        assert sorted(draw(QUEUES, WEIGHTS, rng)) == sorted(QUEUES)
    assert draw([], WEIGHTS, rng) == []


def test_the_weighted_cycle_draws_anew_on_every_consume_and_never_rotates():
    cycle = WeightedCycle(WEIGHTS, rng=random.Random(5))
    cycle.update(QUEUES)
    orders = {tuple(cycle.consume(3)) for _ in range(300)}
    assert len(orders) == 6  # every order occurs, none is stuck
    assert cycle.rotate("critical") == "critical"
    assert cycle.items == QUEUES  # kombu's rotate moved the used queue to the end; not here
    assert len(cycle.consume(2)) == 2


def test_the_strict_cycle_keeps_its_order_whatever_was_used():
    cycle = StrictCycle(["critical", "default", "low"])
    cycle.update(["mailers", "low", "default", "critical"])
    for used in ("critical", "low", "mailers"):
        cycle.rotate(used)
        assert cycle.consume(4) == ["critical", "default", "low", "mailers"]

"""How the Kafka groups share partitions: evenly per topic, sticky within that."""

from __future__ import annotations

from collections import Counter

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from exchange.backbone.kafka_assignor import assignor_for_one_consumer, spread


def test_each_member_gets_an_even_share() -> None:
    shares = spread(range(4), ["b", "a"], {})
    assert shares == {"a": [0, 1], "b": [2, 3]}
    uneven = spread(range(7), ["a", "b", "c"], {})
    assert sorted(len(s) for s in uneven.values()) == [2, 2, 3]
    assert sorted(p for s in uneven.values() for p in s) == list(range(7))


def test_partitions_stay_with_their_member_when_balance_allows() -> None:
    # a held everything; b joins: a keeps half of what it had, b takes the rest.
    shares = spread(range(4), ["a", "b"], {"a": [0, 1, 2, 3]})
    assert shares == {"a": [0, 1], "b": [2, 3]}
    # b held 2 and 3; a newcomer c takes only from what is unowned or over a share.
    shares = spread(range(6), ["a", "b", "c"], {"a": [0, 1, 4, 5], "b": [2, 3]})
    assert shares["b"] == [2, 3]
    assert shares["a"] == [0, 1]
    assert shares["c"] == [4, 5]


def test_a_member_that_left_has_its_partitions_shared_out() -> None:
    shares = spread(range(6), ["a", "b"], {"a": [0, 1], "b": [2, 3], "gone": [4, 5]})
    assert shares == {"a": [0, 1, 4], "b": [2, 3, 5]}


def test_a_partition_claimed_twice_goes_to_one_member() -> None:
    shares = spread(range(2), ["a", "b"], {"a": [0, 1], "b": [1]})
    assert shares == {"a": [0], "b": [1]}


def test_larger_shares_go_to_the_least_loaded_across_topics() -> None:
    load: Counter[str] = Counter()
    first = spread(range(3), ["a", "b"], {}, load)
    second = spread(range(3), ["a", "b"], {}, load)
    assert len(first["a"]) + len(second["a"]) == 3
    assert len(first["b"]) + len(second["b"]) == 3


def _cluster(topics: dict[str, int]) -> ClusterMetadata:
    cluster = ClusterMetadata()
    cluster._partitions = {t: dict.fromkeys(range(n)) for t, n in topics.items()}
    return cluster


def test_two_members_of_a_delivery_group_each_get_deliveries_and_retries() -> None:
    """The case Kafka's sticky assignor gets wrong: balanced counts, but one member with
    every deliver partition and the other with every retry partition."""
    first, second = assignor_for_one_consumer(), assignor_for_one_consumer()
    topics = ["x.deliver.tax", "x.retry.tax"]
    cluster = _cluster(dict.fromkeys(topics, 4))
    alone = first.assign(cluster, {"m1": first.metadata(topics)})
    first.on_assignment(alone["m1"])
    assert first.owned == (("x.deliver.tax", (0, 1, 2, 3)), ("x.retry.tax", (0, 1, 2, 3)))

    both = first.assign(cluster, {"m1": first.metadata(topics), "m2": second.metadata(topics)})
    for member in ("m1", "m2"):
        held = dict(both[member].assignment)
        assert len(held["x.deliver.tax"]) == 2 and len(held["x.retry.tax"]) == 2, both
    first.on_assignment(both["m1"])
    second.on_assignment(both["m2"])
    # Each consumer remembers its own share (state on separate classes).
    assert first.owned != second.owned

    again = first.assign(cluster, {"m1": first.metadata(topics), "m2": second.metadata(topics)})
    assert again["m1"].assignment == both["m1"].assignment  # a rebalance moves nothing


def test_unreadable_user_data_counts_as_holding_nothing() -> None:
    assignor = assignor_for_one_consumer()
    cluster = _cluster({"t": 2})
    members = {
        "m1": ConsumerProtocolMemberMetadata(0, ["t"], b"not json"),
        "m2": ConsumerProtocolMemberMetadata(0, ["t"], b'{"t": 1}'),
    }
    plan = assignor.assign(cluster, members)
    assert sorted(p for m in plan.values() for _, ps in m.assignment for p in ps) == [0, 1]

"""The metrics of one process, in memory and in the folder the hub's processes share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from exchange.metrics import collection
from exchange.metrics.instruments import HubMetrics, NoMetrics
from exchange.settings import Settings


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def isolated() -> Iterator[None]:
    """configure() changes process-wide state: put it back for the other tests."""
    saved = (collection._current, collection._folder, values.ValueClass)
    environment = os.environ.get(collection.ENVIRONMENT)
    yield
    collection._current, collection._folder, values.ValueClass = saved
    if environment is None:
        os.environ.pop(collection.ENVIRONMENT, None)
    else:
        os.environ[collection.ENVIRONMENT] = environment


def test_counts_in_memory_with_labels_and_reuses_children() -> None:
    metrics = HubMetrics(CollectorRegistry())
    metrics.accepted("samr-reg", "samr.EnterpriseRegistration", 0.004)
    metrics.accepted("samr-reg", "samr.EnterpriseRegistration", 0.006)
    metrics.rejected("", 401, "Unauthenticated")
    metrics.delivered("samr-reg", "samr.EnterpriseRegistration", "r", "tax", 0.01, 0.2)
    metrics.breaker("tax", "open")
    assert metrics.registry is not None
    samples = _samples(generate_latest(metrics.registry).decode())
    labels = (("sender", "samr-reg"), ("type", "samr.EnterpriseRegistration"))
    assert samples[("exchange_messages_accepted_total", labels)] == 2
    assert samples[("exchange_ingress_seconds_count", labels)] == 2
    assert samples[("exchange_ingress_seconds_sum", labels)] == pytest.approx(0.01)
    refused = (("reason", "Unauthenticated"), ("sender", ""), ("status", "401"))
    assert samples[("exchange_messages_rejected_total", refused)] == 1
    assert samples[("exchange_breaker_state", (("endpoint", "tax"),))] == 2
    assert len(metrics._children) == 5  # one entry per label combination (and timing pair)


def test_the_processes_files_add_up_and_a_fresh_start_empties_the_folder(
    tmp_path: Path, isolated: None
) -> None:
    settings = Settings(home=tmp_path, data_dir=tmp_path / "var")
    first = collection.configure(settings, fresh=True)
    first.replayed("tax", 3)
    folder = collection.folder_of(settings)
    assert collection.folder() == folder and list(folder.glob("counter_*.db"))
    # another process's file beside this one's: the scrape adds both
    (folder / "counter_999999.db").write_bytes((next(folder.glob("counter_*.db"))).read_bytes())
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    samples = _samples(generate_latest(registry).decode())
    assert samples[("exchange_dead_letters_replayed_total", (("endpoint", "tax"),))] == 6
    collection.configure(settings, fresh=True)
    assert list(folder.glob("*.db")) == []


def test_metrics_off_write_nothing(tmp_path: Path, isolated: None) -> None:
    settings = Settings(home=tmp_path, data_dir=tmp_path / "var", metrics=False)
    metrics = collection.configure(settings, fresh=True)
    assert isinstance(metrics, NoMetrics)
    metrics.accepted("s", "t", 0.1)
    assert collection.folder() is None
    assert not collection.folder_of(settings).exists()

"""One exception tree in exchange.errors: detail, class-level retriable, old import paths."""

from __future__ import annotations

import exchange.errors as errors
from exchange.adapters.problems import AdapterConfigError as OldAdapterConfigError
from exchange.egress.base import EndpointRejected as OldRejected
from exchange.egress.base import EndpointUnavailable as OldUnavailable
from exchange.plugins import PluginError as OldPluginError


def test_old_import_paths_name_the_same_classes() -> None:
    assert OldAdapterConfigError is errors.AdapterConfigError
    assert OldUnavailable is errors.EndpointUnavailable
    assert OldRejected is errors.EndpointRejected
    assert OldPluginError is errors.PluginError


def test_every_error_has_detail_and_a_class_level_retriable() -> None:
    for name in dir(errors):
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.ExchangeError):
            assert isinstance(cls.retriable, bool), name
    assert errors.ExchangeError.retriable is False
    assert errors.EndpointUnavailable.retriable is True
    assert errors.EndpointRejected.retriable is False
    assert errors.EndpointMisconfigured.retriable is False
    assert (
        errors.ConfigError("routes/a.yaml:3: bad; fix it").detail == "routes/a.yaml:3: bad; fix it"
    )


def test_delivery_errors_say_retriable_by_class_or_instance() -> None:
    busy = errors.EndpointUnavailable("busy", endpoint="e", url="u", retry_after=2.0)
    assert busy.retriable is True and busy.retry_after == 2.0
    assert errors.DeliveryError("x").retriable is False
    assert errors.DeliveryError("x", retriable=True).retriable is True
    misconfigured = errors.EndpointMisconfigured("no ${TOKEN}", endpoint="e")
    assert isinstance(misconfigured, errors.ConfigError) and misconfigured.detail == "no ${TOKEN}"

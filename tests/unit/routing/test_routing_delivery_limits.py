"""An endpoint's delivery limits: ``retry.max_age`` and the ``breaker:`` settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.egress import CircuitBreaker
from exchange.routing import LintProblem, RoutingTable, lint
from exchange.routing.model import BreakerPolicy, Endpoint, RetryPolicy

ENDPOINT = """endpoints:
  - name: tax-bureau
    url: http://127.0.0.1:9/tax
    format: tax.TaxpayerRegistration
"""


def errors(folder: Path, settings: str) -> list[LintProblem]:
    (folder / "endpoints.yaml").write_text(ENDPOINT + settings, encoding="utf-8")
    return [p for p in lint(folder) if p.severity == "error"]


def test_the_defaults_are_a_day_and_five_failures_for_thirty_seconds() -> None:
    endpoint = Endpoint.model_validate(
        {"name": "e", "url": "http://127.0.0.1:9/e", "format": "x.Y"}
    )
    assert endpoint.retry.max_age == 86400
    assert endpoint.breaker == BreakerPolicy(failures=5, cooldown=30)
    # The breaker built from the default policy is the breaker's own default.
    built, default = CircuitBreaker.for_policy(endpoint.breaker), CircuitBreaker()
    assert (built.failure_threshold, built.cooldown) == (default.failure_threshold, 30.0)


def test_the_settings_are_read_from_the_endpoint_file(tmp_path: Path) -> None:
    (tmp_path / "endpoints.yaml").write_text(
        ENDPOINT
        + "    retry: {attempts: 50, max_age: 3600}\n"
        + "    breaker: {failures: 2, cooldown: 0.5}\n",
        encoding="utf-8",
    )
    endpoint = RoutingTable.load(tmp_path).endpoints["tax-bureau"]
    assert endpoint.retry == RetryPolicy(attempts=50, max_age=3600)
    assert endpoint.breaker == BreakerPolicy(failures=2, cooldown=0.5)
    breaker = CircuitBreaker.for_policy(endpoint.breaker)
    assert (breaker.failure_threshold, breaker.cooldown) == (2, 0.5)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("    retry: {max_age: 0}\n", "retry.max_age: Input should be greater than 0"),
        ("    retry: {max_age: -5}\n", "retry.max_age: Input should be greater than 0"),
        # Longer than Kafka keeps a record by default.
        (
            "    retry: {max_age: 864000}\n",
            "retry.max_age: Input should be less than or equal to 604800",
        ),
        ("    retry: {max_age: soon}\n", "retry.max_age: Input should be a valid number"),
        ("    breaker: {failures: 0}\n", "breaker.failures: Input should be greater than or"),
        ("    breaker: {failures: 2.5}\n", "breaker.failures: Input should be a valid integer"),
        ("    breaker: {cooldown: 0}\n", "breaker.cooldown: Input should be greater than 0"),
        (
            "    breaker: {cooldown: 7200}\n",
            "breaker.cooldown: Input should be less than or equal to 3600",
        ),
        ("    breaker: {failure: 3}\n", "breaker.failure: Extra inputs are not permitted"),
        ("    breaker: 5\n", "breaker: Input should be a valid dictionary"),
    ],
)
def test_a_bad_setting_is_named_at_its_line(tmp_path: Path, settings: str, expected: str) -> None:
    (problem,) = errors(tmp_path, settings)
    assert (problem.file.name, problem.line) == ("endpoints.yaml", 5)
    assert problem.message.startswith(f"endpoint 'tax-bureau': {expected}"), problem.message


def test_a_misspelt_breaker_key_gets_a_suggestion(tmp_path: Path) -> None:
    (problem,) = errors(tmp_path, "    breaker: {failure: 3}\n")
    assert "did you mean 'failures'?" in problem.message
    assert "allowed here: failures, cooldown" in problem.message

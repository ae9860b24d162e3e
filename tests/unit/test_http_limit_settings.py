"""The HTTP server's read limits as settings: defaults that leave normal traffic alone,
values from the environment, bad ones refused naming the variable; and the open-file
limit raised to fit the connection cap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exchange.errors import ConfigError
from exchange.settings import load_settings


def test_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    assert settings.header_timeout == 10
    assert settings.body_timeout == 30
    assert settings.body_min_rate == 4096
    assert settings.keepalive_timeout == 5
    assert settings.max_connections == 1000


def test_values_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_HEADER_TIMEOUT", "0.5")
    monkeypatch.setenv("EXCHANGE_BODY_TIMEOUT", "2.5")
    monkeypatch.setenv("EXCHANGE_BODY_MIN_RATE", "100")
    monkeypatch.setenv("EXCHANGE_KEEPALIVE_TIMEOUT", "30")
    monkeypatch.setenv("EXCHANGE_MAX_CONNECTIONS", "50")
    settings = load_settings(home=tmp_path)
    assert (settings.header_timeout, settings.body_timeout, settings.body_min_rate) == (
        0.5,
        2.5,
        100,
    )
    assert (settings.keepalive_timeout, settings.max_connections) == (30, 50)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EXCHANGE_HEADER_TIMEOUT", "0"),
        ("EXCHANGE_HEADER_TIMEOUT", "soon"),
        ("EXCHANGE_BODY_TIMEOUT", "-1"),
        ("EXCHANGE_BODY_MIN_RATE", "0"),
        ("EXCHANGE_KEEPALIVE_TIMEOUT", "0"),
        ("EXCHANGE_KEEPALIVE_TIMEOUT", "1.5"),
        ("EXCHANGE_MAX_CONNECTIONS", "0"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable}: "):
        load_settings(home=tmp_path)


def test_the_open_file_limit_is_raised_to_fit_the_connections() -> None:
    # In a child process: the limit is the process's own.
    script = """
import resource
from exchange.ingress.http_limits import FILES_FOR_THE_REST, make_room_for
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
assert hard == resource.RLIM_INFINITY or hard >= 2000 + FILES_FOR_THE_REST, hard
resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))
make_room_for(2000)
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert int(out) == 2000 + 256

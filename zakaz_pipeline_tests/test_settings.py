"""``Settings.from_env``: every numeric setting refuses what the code could not honour (not
finite, a fraction where a whole number is meant, past the range a timeout or an age can
take), naming its variable; plain http to the API only to this machine or on request."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from zakaz_pipeline import settings
from zakaz_pipeline.settings import ConfigError, Settings
from zakaz_pipeline.webhooks.queue import Change, WebhookQueue
from zakaz_pipeline_tests.harness import ENV

# variable → (a good value and the field it sets, values it must refuse)
NUMBERS = {
    "QTICKETS_READ_TIMEOUT": (("2.5", "read_timeout", 2.5), ("inf", "nan", "0", "-1", "1e9")),
    "QTICKETS_MAX_IN_FLIGHT": (("8", "max_in_flight", 8), ("0", "2.5", "inf", "1e6", "four")),
    "ZAKAZ_STEP_RETRY_DELAY": (("0.5", "step_retry_delay", 0.5), ("inf", "-0.1", "1e12")),
    "ZAKAZ_LATE_CHANGES_INTERVAL": (("60", "late_changes_interval", 60), ("0.5", "inf", "1e9", "0")),
    "ZAKAZ_ORDERS_WARN_HOURS": (("1.5", "orders_warn_hours", 1.5), ("inf", "nan", "1e9")),
    "ZAKAZ_ORDERS_ERROR_HOURS": (("72", "orders_error_hours", 72.0), ("inf", "0", "1e300")),
    "ZAKAZ_INVENTORY_WARN_HOURS": (("3", "inventory_warn_hours", 3.0), ("-inf", "1e9")),
    "ZAKAZ_VOLUME_MAX_DROP": (("0.25", "volume_max_drop", 0.25), ("1.5", "nan", "0")),
    "ZAKAZ_WEBHOOK_SILENCE_HOURS": (("6", "webhook_silence_hours", 6.0), ("inf", "1e9")),
    "ZAKAZ_WEBHOOK_BAD_SIGNATURES": (("25", "webhook_bad_signatures", 25), ("2.5", "0", "inf", "1e12")),
    "ZAKAZ_WEBHOOK_MAX_BYTES": (("4096", "webhook_max_bytes", 4096), ("0.5", "0", "1", "1e12", "inf")),
    "ZAKAZ_WEBHOOK_RETENTION_DAYS": (("30", "webhook_retention_days", 30), ("1e9", "0.5", "inf", "0")),
    "ZAKAZ_WEBHOOKS_INTERVAL": (("5", "webhooks_interval", 5), ("0.5", "nan", "1e9")),
}


@pytest.mark.parametrize("name", sorted(NUMBERS))
def test_each_numeric_setting_takes_a_sane_value_and_refuses_what_it_cannot_honour(name: str) -> None:
    (good, field, value), bad_values = NUMBERS[name]
    assert getattr(Settings.from_env(ENV | {name: good}), field) == value
    for bad in bad_values:
        with pytest.raises(ConfigError) as error:
            Settings.from_env(ENV | {name: bad})
        assert f"{name}={bad!r}" in str(error.value), bad


def test_whole_numbers_are_never_truncated_and_the_ranges_are_stated() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(ENV | {"ZAKAZ_WEBHOOK_MAX_BYTES": "0.5", "ZAKAZ_WEBHOOK_RETENTION_DAYS": "1e9"})
    message = str(error.value)
    assert "ZAKAZ_WEBHOOK_MAX_BYTES='0.5' must be a whole number of bytes from 1024 to 67108864" in message
    assert "ZAKAZ_WEBHOOK_RETENTION_DAYS='1e9' must be a whole number of days from 1 to 3660" in message
    assert Settings.from_env(ENV | {"ZAKAZ_WEBHOOKS_INTERVAL": "30.0"}).webhooks_interval == 30


def test_the_widest_values_still_work_where_they_are_used(tmp_path: Path) -> None:
    """The upper bounds are usable: the longest retention prunes the queue as the receiver
    does (``1e9`` days crashed there), and the longest ages make valid datetimes."""
    widest = Settings.from_env(
        ENV
        | {"ZAKAZ_WEBHOOK_RETENTION_DAYS": "3660", "ZAKAZ_ORDERS_ERROR_HOURS": "8784", "QTICKETS_READ_TIMEOUT": "3600"}
    )
    retention = dt.timedelta(days=widest.webhook_retention_days)
    with WebhookQueue(tmp_path / "webhooks.sqlite", retention=retention) as queue:
        assert queue.add(Change(1, "payed", "2026-01-01T10:00:00+03:00", None, None, False))
        assert queue.prune() == 0 and len(queue.after(0)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/api/rest/v1",
        "http://127.10.0.2/api/rest/v1",
        "http://localhost:9000/api/rest/v1",
        "http://[::1]:8080/api/rest/v1",
        "https://qtickets.ru/api/rest/v1",
        "https://10.0.0.5/api/rest/v1",
    ],
)
def test_https_and_plain_http_to_this_machine_are_taken(url: str) -> None:
    assert Settings.from_env(ENV | {"QTICKETS_BASE_URL": url}).base_url == url


@pytest.mark.parametrize(
    "url", ["http://qtickets.ru/api/rest/v1", "http://10.0.0.5:8080/api/rest/v1", "http://[2001:db8::1]/api"]
)
def test_plain_http_elsewhere_needs_the_opt_in(url: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(ENV | {"QTICKETS_BASE_URL": url})
    assert "QTICKETS_BASE_URL" in str(error.value) and "QTICKETS_ALLOW_PLAIN_HTTP=1" in str(error.value)
    assert "clear text" in str(error.value)
    opted_in = Settings.from_env(ENV | {"QTICKETS_BASE_URL": url, "QTICKETS_ALLOW_PLAIN_HTTP": "1"})
    assert opted_in.base_url == url


@pytest.mark.parametrize("name", ["QTICKETS_ALLOW_PLAIN_HTTP", "CLICKHOUSE_ALLOW_WIDE_NETWORKS"])
def test_an_opt_in_is_1_or_0(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}='yes' must be 1"):
        Settings.from_env(ENV | {name: "yes"})
    assert Settings.from_env(ENV | {"CLICKHOUSE_ALLOW_WIDE_NETWORKS": "1"}).allow_wide_networks
    assert not Settings.from_env(ENV | {name: "0"}).allow_wide_networks


def test_every_secret_is_in_the_one_list_an_error_line_is_cleaned_of(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new secret (an alert channel's token) is added to ``SECRET_VARIABLES``; the resources'
    secrets are all in it (the warehouse URL's password is taken from the URL)."""
    assert set(settings.SECRETS.values()) - {"CLICKHOUSE_URL"} <= set(settings.SECRET_VARIABLES)
    for number, name in enumerate(settings.SECRET_VARIABLES):
        monkeypatch.setenv(name, f"secret-value-{number}")
    monkeypatch.setenv("CLICKHOUSE_URL", "https://etl:url-password-1@db.example:8443")
    monkeypatch.setenv("CLICKHOUSE_ADMIN_URL", "https://admin:url-password-2@db.example:8443")
    found = set(settings.process_secrets())
    assert found == {f"secret-value-{n}" for n in range(len(settings.SECRET_VARIABLES))} | {
        "url-password-1",
        "url-password-2",
    }

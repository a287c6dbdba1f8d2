"""Settings are read from a mapping with clear errors."""

from __future__ import annotations

import pytest

from mtasts.errors import SettingsError
from mtasts.settings import load_settings


def test_lists_and_defaults() -> None:
    settings = load_settings({"REPORT_RUA": "mailto:a@example.net, https://r.example.net/v1"})
    assert settings.report_rua == ("mailto:a@example.net", "https://r.example.net/v1")
    assert settings.verify_attempts == 10 and settings.enforce_max_age == 604800


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="VERIFY_ATTEMPTS"):
        load_settings({"VERIFY_ATTEMPTS": "zero"})


def test_require_names_each_missing_variable() -> None:
    settings = load_settings({"DOMAINS_TABLE": "t"})
    with pytest.raises(SettingsError, match="CLOUDFLARE_ACCOUNT_ID, REPORT_RUA"):
        settings.require("domains_table", "cloudflare_account_id", "report_rua")


def test_the_token_never_shows_in_a_repr() -> None:
    settings = load_settings({"CLOUDFLARE_API_TOKEN": "sekret-token"})
    assert "sekret-token" not in repr(settings)


def test_world_targets_are_parsed_and_checked() -> None:
    settings = load_settings(
        {
            "DNS_NAMESERVER": "127.0.0.1:5353",
            "POLICY_CONNECT_TO": "127.0.0.1:8443",
            "SMTP_CONNECT_TO": "MX1.example.com=127.0.0.3:2525, mx2.example.com=127.0.0.4:25",
        }
    )
    assert settings.nameserver() == ("127.0.0.1", 5353)
    assert settings.policy_targets() == {"*": ("127.0.0.1", 8443)}
    assert settings.smtp_targets() == {
        "mx1.example.com": ("127.0.0.3", 2525),
        "mx2.example.com": ("127.0.0.4", 25),
    }
    assert load_settings({}).nameserver() == (None, 53)
    with pytest.raises(SettingsError, match="HOST=ADDRESS:PORT"):
        load_settings({"SMTP_CONNECT_TO": "mx1.example.com"})

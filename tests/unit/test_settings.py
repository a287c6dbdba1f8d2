"""Settings are read from a mapping with clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mtasts.errors import SettingsError
from mtasts.settings import load_settings
from mtasts.validator_settings import ValidatorSettings, load_validator_settings


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


def test_the_validator_reads_its_own_settings_and_a_full_settings_is_one() -> None:
    environ = {"DOMAINS_TABLE": "t", "DNS_NAMESERVER": "127.0.0.1:5353", "VERIFY_ATTEMPTS": "zero"}
    validator = load_validator_settings(environ)  # not its setting: another handler's to judge
    assert (validator.domains_table, validator.nameserver()) == ("t", ("127.0.0.1", 5353))
    assert not hasattr(validator, "verify_attempts")
    with pytest.raises(SettingsError, match="VERIFY_ATTEMPTS"):
        load_settings(environ)
    with pytest.raises(SettingsError, match="ADDRESS\\[:PORT\\]"):
        load_validator_settings({"DNS_NAMESERVER": "127.0.0.1:dns"})
    assert isinstance(load_settings({"DOMAINS_TABLE": "t"}), ValidatorSettings)


def test_the_validate_handler_does_not_build_the_full_settings_model() -> None:
    # Its cold start: the full model's schema (45 fields) takes about 4 ms more to build.
    code = "import app, sys; print('mtasts.settings' in sys.modules)"
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2] / "functions" / "validate",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["False"]

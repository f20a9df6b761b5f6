"""Settings from CDK context: defaults, parsing of command-line strings, clear errors."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.config import CONTEXT_KEYS, Settings, settings_from_context
from tests.conftest import ROOT


def _settings(**context: Any) -> Settings:
    return settings_from_context(cdk.App(context=context).node)


def test_defaults_retain_data_and_are_environment_agnostic() -> None:
    settings = _settings()
    assert settings == Settings()
    assert settings.env_name == "dev"
    assert settings.sandbox is False
    assert settings.removal_policy == cdk.RemovalPolicy.RETAIN
    assert settings.environment is None
    assert settings.tags == {"project": "ml-blueprints", "environment": "dev"}
    assert settings.stack_name("data-lake") == "mlbp-dev-data-lake"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("YES", True), ("1", True), ("false", False), ("no", False), (True, True)],
)
def test_sandbox_accepts_command_line_booleans(raw: Any, expected: bool) -> None:
    settings = _settings(sandbox=raw)
    assert settings.sandbox is expected
    expected_policy = cdk.RemovalPolicy.DESTROY if expected else cdk.RemovalPolicy.RETAIN
    assert settings.removal_policy == expected_policy


def test_numbers_and_environment_from_strings() -> None:
    settings = _settings(
        max_azs="3",
        nat_gateways="1",
        log_retention_days="90",
        account="111122223333",
        region="eu-west-1",
        env_name="prod",
    )
    assert (settings.max_azs, settings.nat_gateways, settings.log_retention_days) == (3, 1, 90)
    assert settings.environment is not None
    assert (settings.environment.account, settings.environment.region) == (
        "111122223333",
        "eu-west-1",
    )
    assert settings.stack_name("data-lake") == "mlbp-prod-data-lake"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"env_name": "Prod"}, "env_name='Prod': 1-16 characters"),
        ({"env_name": "a-very-long-environment"}, "env_name='a-very-long-environment'"),
        ({"sandbox": "maybe"}, "sandbox='maybe': a boolean: true or false"),
        ({"account": "1234"}, "account='1234': 12 digits"),
        ({"region": "mars-1"}, "region='mars-1': an AWS region name"),
        ({"max_azs": "two"}, "max_azs='two': a whole number"),
        ({"max_azs": 1}, "max_azs=1: 2 to 6"),
        ({"nat_gateways": 3}, "nat_gateways=3: 0 to max_azs (2)"),
        ({"nat_gateways": True}, "nat_gateways=True: a whole number"),
        ({"log_retention_days": 42}, "log_retention_days=42: one of CloudWatch Logs' periods"),
    ],
)
def test_bad_context_is_refused_with_a_clear_error(context: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=r"^CDK context: invalid prop") as error:
        _settings(**context)
    assert expected in str(error.value)


def test_every_bad_key_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as error:
        _settings(env_name="X", sandbox="perhaps", log_retention_days=2)
    message = str(error.value)
    assert message.startswith("CDK context: invalid props:")
    assert all(key in message for key in ("env_name=", "sandbox=", "log_retention_days="))


def test_every_context_key_is_documented_in_the_readme() -> None:
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    for key in CONTEXT_KEYS:
        assert f"`{key}`" in readme, key


def test_ml_endpoint_needs_a_model() -> None:
    with pytest.raises(ValueError, match="ml_endpoint=True: false unless ml_model_data_url"):
        _settings(ml_endpoint="true")
    with pytest.raises(ValueError, match="ml_model_data_url='http://x': an s3:// URI"):
        _settings(ml_model_data_url="http://x")
    settings = _settings(ml_endpoint="true", ml_model_data_url="s3://acme-models/m/model.tar.gz")
    assert settings.ml_endpoint and settings.ml_model_data_url == "s3://acme-models/m/model.tar.gz"


def test_interface_endpoints_follow_the_enabled_layers() -> None:
    assert _settings().interface_endpoints == ()
    assert _settings(emr="true", ml_notebook="true").interface_endpoints == (
        "elasticmapreduce",
        "kms",
        "sts",
        "glue",
        "sagemaker.api",
    )


def test_the_warehouse_switch_widens_the_network_to_three_azs() -> None:
    assert _settings().network_azs == 2
    assert _settings(warehouse="true").warehouse is True
    assert _settings(warehouse="true").network_azs == 3
    assert _settings(warehouse="true", max_azs="4").network_azs == 4
    assert _settings(warehouse="false", max_azs="3").network_azs == 3
    assert "warehouse" in CONTEXT_KEYS
    with pytest.raises(ValueError, match="warehouse='maybe': a boolean"):
        _settings(warehouse="maybe")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("sandbx", "sandbox"), ("envname", "env_name"), ("max_az", "max_azs")],
)
def test_an_unknown_key_is_refused_with_the_closest_known_key(key: str, suggestion: str) -> None:
    with pytest.raises(ValueError, match=r"^CDK context: invalid prop:") as error:
        _settings(**{key: "true"})
    assert f"{key}='true': not a context key of this app (did you mean {suggestion}?)" in str(
        error.value
    )


def test_an_unknown_key_unlike_any_known_one_points_to_the_readme() -> None:
    with pytest.raises(ValueError, match=r"zzzzzz='1': not a context key of this app \(see"):
        _settings(zzzzzz="1")


@pytest.mark.parametrize(
    "key",
    [
        "@aws-cdk/core:newStyleStackSynthesis",
        "@aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver",
        "availability-zones:account=123456789012:region=us-east-1",
        "aws:cdk:enable-path-metadata",
        "aws:cdk:enable-asset-metadata",
        "aws:cdk:version-reporting",
        "aws:cdk:bundling-stacks",
        "aws:cdk:disable-version-reporting",
        "cli-telemetry",
        "acknowledged-issue-numbers",
    ],
)
def test_the_cdks_own_keys_are_accepted(key: str) -> None:
    assert _settings(**{key: True}, sandbox="true").sandbox is True


def test_the_feature_flags_of_cdk_json_are_accepted() -> None:
    from tests.conftest import FEATURE_FLAGS

    assert FEATURE_FLAGS
    cdk_json = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert cdk_json.keys() - FEATURE_FLAGS.keys() <= CONTEXT_KEYS.keys()
    assert not FEATURE_FLAGS.keys() & CONTEXT_KEYS.keys()
    assert _settings(**FEATURE_FLAGS, env_name="prod").env_name == "prod"


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("env_name", "prod\n"),
        ("env_name", " prod"),
        ("account", "123456789012\n"),
        ("region", "eu-west-1 "),
        ("sandbox", "true\n"),
        ("datasync_source", "nfs://files/export\n"),
        ("dms_source_host", " db.example.com"),
    ],
)
def test_values_with_surrounding_whitespace_are_refused_not_stripped(key: str, raw: str) -> None:
    with pytest.raises(ValueError, match=r"^CDK context: invalid prop") as error:
        _settings(**{key: raw})
    expected = f"{key}={raw!r}: no leading or trailing whitespace (spaces, tabs, newlines)"
    assert expected in str(error.value)


def test_a_trailing_newline_does_not_slip_past_the_patterns() -> None:
    # ``$`` matches before a final newline; the patterns are matched whole.
    from ml_blueprints import config

    for pattern, text in [
        (config._ENV_NAME, "prod\n"),
        (config._ACCOUNT, "123456789012\n"),
        (config._REGION, "eu-west-1\n"),
        (config._EMAIL, "ops@example.com\n"),
    ]:
        assert not pattern.fullmatch(text)


def test_unknown_keys_and_bad_values_are_reported_in_one_error() -> None:
    with pytest.raises(ValueError) as error:
        _settings(sandbx="true", envname="prod", env_name="prod\n", max_azs="9")
    message = str(error.value)
    assert message.startswith("CDK context: invalid props:")
    for expected in (
        "sandbx='true': not a context key of this app (did you mean sandbox?)",
        "envname='prod': not a context key of this app (did you mean env_name?)",
        "env_name='prod\\n': no leading or trailing whitespace",
        "max_azs=9: 2 to 6",
    ):
        assert expected in message

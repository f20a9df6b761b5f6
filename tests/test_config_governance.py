"""The governance and cost settings: the Governance stack switch, the budget, the stream's
capacity (one provisioned shard in sandbox mode)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.config import CONTEXT_KEYS, Settings, settings_from_context


def _settings(**context: Any) -> Settings:
    return settings_from_context(cdk.App(context=context).node)


def test_defaults() -> None:
    settings = _settings()
    assert settings.governance is True
    assert settings.budget_usd == 50.0
    assert settings.budget_emails == ()
    assert settings.stream_shard_count is None  # on-demand outside sandbox mode
    assert {"governance", "budget_usd", "budget_emails", "stream_shards"} <= set(CONTEXT_KEYS)


@pytest.mark.parametrize(
    ("context", "shards"),
    [
        ({"sandbox": "true"}, 1),
        ({"sandbox": "true", "stream_shards": "on-demand"}, None),
        ({"sandbox": "true", "stream_shards": "ON-DEMAND"}, None),
        ({"stream_shards": "4"}, 4),
        ({"stream_shards": 500}, 500),
        ({"sandbox": "false", "stream_shards": 2}, 2),
    ],
)
def test_stream_capacity(context: dict[str, Any], shards: int | None) -> None:
    assert _settings(**context).stream_shard_count == shards


def test_governance_budget_and_emails_from_the_command_line() -> None:
    settings = _settings(
        governance="false", budget_usd="20.5", budget_emails="ops@example.com, fin@example.org"
    )
    assert settings.governance is False
    assert settings.budget_usd == 20.5
    assert settings.budget_emails == ("ops@example.com", "fin@example.org")
    assert _settings(budget_usd=75, budget_emails=["a@b.co"]).budget_emails == ("a@b.co",)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"governance": "maybe"}, "governance='maybe': a boolean: true or false"),
        ({"budget_usd": "0"}, "budget_usd='0': US dollars a month, 1 to 1,000,000"),
        ({"budget_usd": "1e9"}, "budget_usd='1e9': US dollars a month"),
        ({"budget_usd": "12.345"}, "budget_usd='12.345': US dollars a month"),
        ({"budget_usd": 2_000_000}, "budget_usd=2000000: US dollars a month"),
        ({"budget_usd": True}, "budget_usd=True: US dollars a month"),
        ({"budget_emails": "ops"}, "budget_emails='ops': up to 10 comma-separated e-mail"),
        ({"budget_emails": ",".join(f"u{i}@x.io" for i in range(11))}, "budget_emails='u0@x.io"),
        ({"budget_emails": 5}, "budget_emails=5: up to 10"),
        ({"stream_shards": "0"}, "stream_shards='0': a shard count, 1 to 500, or 'on-demand'"),
        ({"stream_shards": 501}, "stream_shards=501: a shard count"),
        ({"stream_shards": "many"}, "stream_shards='many': a shard count"),
        ({"stream_shards": True}, "stream_shards=True: a shard count"),
    ],
)
def test_bad_values_are_refused(context: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=r"^CDK context: invalid prop") as error:
        _settings(**context)
    assert expected in str(error.value)

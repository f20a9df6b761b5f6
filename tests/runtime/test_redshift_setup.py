"""The warehouse's setup function (ml_blueprints/runtime/redshift_setup.py), driven with
CloudFormation's request format against a fake of the Data API and Redshift Serverless
(tests/runtime/redshift_fake.py): the external schema's and usage limit's create, update
and delete paths, idempotency, and every failure reported to CloudFormation with a reason."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ml_blueprints.runtime import redshift_setup as setup
from tests.runtime.redshift_fake import ACCOUNT, FakeRedshift

ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlbp-test-svc-spectrum"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlbp-test-svc-other"


class Clock:
    """A clock that moves only when the function sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _schema_properties(**overrides: str) -> dict[str, str]:
    properties = {
        "ServiceToken": "arn:aws:lambda:eu-west-1:111122223333:function:setup",
        "WorkgroupName": "mlbp-test-warehouse",
        "NamespaceName": "mlbp-test-warehouse",
        "Database": "warehouse",
        "SchemaName": "lake",
        "CatalogDatabase": "mlbp_test_lake",
        "IamRoleArn": ROLE,
    }
    properties.update(overrides)
    return properties


def _limit_properties(fake: FakeRedshift, **overrides: str) -> dict[str, str]:
    properties = {
        "ServiceToken": "arn:aws:lambda:eu-west-1:111122223333:function:setup",
        "WorkgroupArn": fake.workgroup_arn,
        "Amount": "32",  # CloudFormation passes numbers as strings
        "Period": "daily",
        "BreachAction": "deactivate",
    }
    properties.update(overrides)
    return properties


def _event(
    request: str,
    resource_type: str,
    properties: dict[str, str],
    *,
    physical_id: str | None = None,
    old: dict[str, str] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request,
        "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x",
        "StackId": f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/mlbp-test-serving/1",
        "RequestId": f"request-{request}",
        "ResourceType": resource_type,
        "LogicalResourceId": "WarehouseResource",
        "ResourceProperties": properties,
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    if old is not None:
        event["OldResourceProperties"] = old
    return event


class Harness:
    """Runs requests through setup.handle with the fake and records every response."""

    def __init__(self, fake: FakeRedshift, time_budget: float = 290.0) -> None:
        self.fake = fake
        self.clock = Clock()
        self.time_budget = time_budget
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        runtime = setup.Runtime(
            clients=setup.Clients(data=self.fake.data, serverless=self.fake.serverless),
            deadline=self.clock.now + self.time_budget,
            sleep=self.clock.sleep,
            clock=lambda: self.clock.now,
        )
        response = setup.handle(
            event,
            runtime,
            send=lambda url, body: self.sent.append((url, body)),
            log_stream="2026/11/24/[$LATEST]abc",
        )
        assert self.sent[-1] == (event["ResponseURL"], response)  # exactly one answer each
        assert response["RequestId"] == event["RequestId"]
        assert response["StackId"] == event["StackId"]
        assert response["LogicalResourceId"] == event["LogicalResourceId"]
        return response


@pytest.fixture
def fake() -> FakeRedshift:
    return FakeRedshift()


@pytest.fixture
def run(fake: FakeRedshift) -> Harness:
    return Harness(fake)


SCHEMA = setup.EXTERNAL_SCHEMA
LIMIT = setup.USAGE_LIMIT


# ------------------------------------------------------------------------- external schema


def test_create_maps_the_catalog_database_as_the_admin(fake: FakeRedshift, run: Harness) -> None:
    response = run(_event("Create", SCHEMA, _schema_properties()))
    assert response["Status"] == "SUCCESS", response
    assert response["PhysicalResourceId"] == "mlbp-test-warehouse/warehouse/lake"
    assert response["Data"] == {"SchemaName": "lake"}
    assert fake.schemas == {"lake": ("mlbp_test_lake", ROLE)}
    assert fake.executed == [
        'CREATE EXTERNAL SCHEMA IF NOT EXISTS "lake" FROM DATA CATALOG DATABASE '
        f"'mlbp_test_lake' IAM_ROLE '{ROLE}'"
    ]
    # It waited for the statement (with backoff) instead of assuming it finished.
    assert run.clock.slept == [0.5]


def test_a_retried_create_is_idempotent(fake: FakeRedshift, run: Harness) -> None:
    for _ in range(2):
        assert run(_event("Create", SCHEMA, _schema_properties()))["Status"] == "SUCCESS"
    assert fake.schemas == {"lake": ("mlbp_test_lake", ROLE)}


def test_an_unchanged_update_keeps_the_schema_and_drops_nothing(
    fake: FakeRedshift, run: Harness
) -> None:
    run(_event("Create", SCHEMA, _schema_properties()))
    response = run(
        _event(
            "Update",
            SCHEMA,
            _schema_properties(),
            physical_id="mlbp-test-warehouse/warehouse/lake",
            old=_schema_properties(),
        )
    )
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "mlbp-test-warehouse/warehouse/lake"
    assert fake.schemas == {"lake": ("mlbp_test_lake", ROLE)}
    assert not any(sql.startswith("DROP") for sql in fake.executed)


def test_an_update_recreates_a_schema_dropped_by_hand(fake: FakeRedshift, run: Harness) -> None:
    run(_event("Create", SCHEMA, _schema_properties()))
    fake.schemas.clear()
    props = _schema_properties()
    run(
        _event("Update", SCHEMA, props, physical_id="mlbp-test-warehouse/warehouse/lake", old=props)
    )
    assert fake.schemas == {"lake": ("mlbp_test_lake", ROLE)}


def test_an_update_to_another_catalog_database_or_role_repoints_the_schema(
    fake: FakeRedshift, run: Harness
) -> None:
    """CREATE ... IF NOT EXISTS alone would keep the old mapping: the schema is dropped and
    created again."""
    fake.roles = (ROLE, OTHER_ROLE)
    run(_event("Create", SCHEMA, _schema_properties()))
    new = _schema_properties(CatalogDatabase="other_lake", IamRoleArn=OTHER_ROLE)
    response = run(
        _event(
            "Update",
            SCHEMA,
            new,
            physical_id="mlbp-test-warehouse/warehouse/lake",
            old=_schema_properties(),
        )
    )
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "mlbp-test-warehouse/warehouse/lake"
    assert fake.schemas == {"lake": ("other_lake", OTHER_ROLE)}
    assert fake.executed[-2] == 'DROP SCHEMA IF EXISTS "lake"'


def test_a_renamed_schema_is_created_and_the_old_one_dropped_when_cloudformation_deletes_it(
    fake: FakeRedshift, run: Harness
) -> None:
    old = _schema_properties()
    run(_event("Create", SCHEMA, old))
    new = _schema_properties(SchemaName="curated")
    response = run(
        _event("Update", SCHEMA, new, physical_id="mlbp-test-warehouse/warehouse/lake", old=old)
    )
    assert response["PhysicalResourceId"] == "mlbp-test-warehouse/warehouse/curated"
    assert set(fake.schemas) == {"lake", "curated"}  # the old one until the cleanup phase
    # CloudFormation deletes the old physical resource with the old properties.
    cleanup = run(_event("Delete", SCHEMA, old, physical_id="mlbp-test-warehouse/warehouse/lake"))
    assert cleanup["Status"] == "SUCCESS"
    assert set(fake.schemas) == {"curated"}


def test_delete_drops_the_schema_and_a_second_delete_finds_nothing_to_do(
    fake: FakeRedshift, run: Harness
) -> None:
    run(_event("Create", SCHEMA, _schema_properties()))
    for _ in range(2):
        response = run(
            _event(
                "Delete",
                SCHEMA,
                _schema_properties(),
                physical_id="mlbp-test-warehouse/warehouse/lake",
            )
        )
        assert response["Status"] == "SUCCESS"
        assert response["PhysicalResourceId"] == "mlbp-test-warehouse/warehouse/lake"
    assert fake.schemas == {}


@pytest.mark.parametrize("gone", ["workgroup", "namespace"])
def test_delete_succeeds_when_the_warehouse_is_already_gone(
    fake: FakeRedshift, run: Harness, gone: str
) -> None:
    setattr(fake, f"{gone}_exists", False)
    response = run(
        _event("Delete", SCHEMA, _schema_properties(), physical_id="mlbp-test-warehouse/w/lake")
    )
    assert response["Status"] == "SUCCESS"


def test_deleting_a_schema_whose_create_failed_runs_no_sql(
    fake: FakeRedshift, run: Harness
) -> None:
    response = run(_event("Delete", SCHEMA, _schema_properties(), physical_id=setup.NOT_CREATED))
    assert response["Status"] == "SUCCESS"
    assert fake.calls == [] and fake.executed == []


def test_a_failed_statement_is_reported_with_redshifts_error(
    fake: FakeRedshift, run: Harness
) -> None:
    response = run(_event("Create", SCHEMA, _schema_properties(IamRoleArn=OTHER_ROLE)))
    assert response["Status"] == "FAILED"
    assert response["PhysicalResourceId"] == setup.NOT_CREATED  # so deleting it is a no-op
    assert response["Reason"].startswith(
        'CREATE EXTERNAL SCHEMA IF NOT EXISTS "lake" failed in workgroup mlbp-test-warehouse: '
        f"User arn:aws:redshift:eu-west-1:{ACCOUNT}:dbuser:mlbp-test-warehouse/warehouse_admin "
        f"is not authorized to assume IAM Role {OTHER_ROLE}"
    )
    assert response["Reason"].endswith("(log stream 2026/11/24/[$LATEST]abc)")
    assert fake.schemas == {}


def test_a_missing_catalog_database_fails_the_create(fake: FakeRedshift, run: Harness) -> None:
    response = run(_event("Create", SCHEMA, _schema_properties(CatalogDatabase="nope")))
    assert response["Status"] == "FAILED"
    assert "External database nope does not exist" in response["Reason"]


def test_a_failed_update_keeps_the_physical_id(fake: FakeRedshift, run: Harness) -> None:
    """CloudFormation then rolls back with the old properties, which recreate the old
    mapping: the resource must not look replaced."""
    run(_event("Create", SCHEMA, _schema_properties()))
    new = _schema_properties(CatalogDatabase="nope")
    failed = run(
        _event(
            "Update",
            SCHEMA,
            new,
            physical_id="mlbp-test-warehouse/warehouse/lake",
            old=_schema_properties(),
        )
    )
    assert failed["Status"] == "FAILED"
    assert failed["PhysicalResourceId"] == "mlbp-test-warehouse/warehouse/lake"
    rollback = run(
        _event(
            "Update",
            SCHEMA,
            _schema_properties(),
            physical_id="mlbp-test-warehouse/warehouse/lake",
            old=new,
        )
    )
    assert rollback["Status"] == "SUCCESS"
    assert fake.schemas == {"lake": ("mlbp_test_lake", ROLE)}


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("SchemaName", 'lake" CASCADE; DROP SCHEMA "public'),
        ("CatalogDatabase", "lake' IAM_ROLE 'x"),
        ("IamRoleArn", "arn:aws:iam::111122223333:user/mallory"),
        ("Database", "Warehouse"),
        ("WorkgroupName", "WG"),
    ],
)
def test_invalid_properties_fail_before_any_sql_is_built(
    fake: FakeRedshift, run: Harness, prop: str, value: str
) -> None:
    response = run(_event("Create", SCHEMA, _schema_properties(**{prop: value})))
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith(f"{prop}={value!r}: ")
    assert fake.executed == []


def test_a_statement_that_does_not_finish_in_time_is_cancelled_and_reported(
    fake: FakeRedshift,
) -> None:
    fake.hang = True
    run = Harness(fake, time_budget=20.0)
    response = run(_event("Create", SCHEMA, _schema_properties()))
    assert response["Status"] == "FAILED"
    assert "did not finish in time" in response["Reason"]
    assert "last status STARTED" in response["Reason"]
    assert len(fake.cancelled) == 1
    assert sum(run.clock.slept) <= 20.0


def test_a_namespace_without_a_managed_secret_is_explained(
    fake: FakeRedshift, run: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakeRedshift, "secret_arn", property(lambda self: ""))
    response = run(_event("Create", SCHEMA, _schema_properties()))
    assert response["Status"] == "FAILED"
    assert "no admin secret managed by Redshift" in response["Reason"]


def test_unexpected_errors_are_reported_not_left_to_time_out(run: Harness) -> None:
    class Denied:
        def get_namespace(self, **_: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
                "GetNamespace",
            )

    run.fake = FakeRedshift()
    runtime = setup.Runtime(
        clients=setup.Clients(data=run.fake.data, serverless=Denied()), deadline=100.0
    )
    sent: list[dict[str, Any]] = []
    response = setup.handle(
        _event("Create", SCHEMA, _schema_properties()),
        runtime,
        send=lambda _, body: sent.append(body),
    )
    assert sent == [response]
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("ClientError: An error occurred (AccessDeniedException)")


def test_an_unknown_resource_type_is_refused(run: Harness) -> None:
    response = run(_event("Create", "Custom::Something", {}))
    assert response["Status"] == "FAILED"
    assert "unknown resource type 'Custom::Something'" in response["Reason"]


# ----------------------------------------------------------------------------- usage limit


def test_a_usage_limit_is_created_on_the_workgroup(fake: FakeRedshift, run: Harness) -> None:
    response = run(_event("Create", LIMIT, _limit_properties(fake)))
    assert response["Status"] == "SUCCESS", response
    [(limit_id, limit)] = fake.usage_limits.items()
    assert response["PhysicalResourceId"] == limit_id
    assert response["Data"] == {"UsageLimitId": limit_id}
    assert limit == {
        "usageLimitId": limit_id,
        "resourceArn": fake.workgroup_arn,
        "usageType": "serverless-compute",
        "amount": 32,
        "period": "daily",
        "breachAction": "deactivate",
    }


def test_a_retried_create_adopts_the_limit_instead_of_adding_one(
    fake: FakeRedshift, run: Harness
) -> None:
    run(_event("Create", LIMIT, _limit_properties(fake, Period="weekly", Amount="100")))
    first = run(_event("Create", LIMIT, _limit_properties(fake)))
    again = run(_event("Create", LIMIT, _limit_properties(fake, Amount="40")))
    assert again["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert sorted((limit["period"], limit["amount"]) for limit in fake.usage_limits.values()) == [
        ("daily", 40),
        ("weekly", 100),
    ]


def test_an_update_changes_the_amount_and_action_in_place(fake: FakeRedshift, run: Harness) -> None:
    created = run(_event("Create", LIMIT, _limit_properties(fake)))["PhysicalResourceId"]
    response = run(
        _event(
            "Update",
            LIMIT,
            _limit_properties(fake, Amount="64", BreachAction="emit-metric"),
            physical_id=created,
            old=_limit_properties(fake),
        )
    )
    assert response["PhysicalResourceId"] == created
    assert (fake.usage_limits[created]["amount"], fake.usage_limits[created]["breachAction"]) == (
        64,
        "emit-metric",
    )
    assert len(fake.usage_limits) == 1


def test_a_new_period_is_a_new_limit_and_the_old_one_is_deleted_after(
    fake: FakeRedshift, run: Harness
) -> None:
    created = run(_event("Create", LIMIT, _limit_properties(fake)))["PhysicalResourceId"]
    weekly = _limit_properties(fake, Period="weekly", Amount="150")
    replaced = run(
        _event("Update", LIMIT, weekly, physical_id=created, old=_limit_properties(fake))
    )
    assert replaced["PhysicalResourceId"] != created
    run(_event("Delete", LIMIT, _limit_properties(fake), physical_id=created))
    assert [(limit["period"], limit["amount"]) for limit in fake.usage_limits.values()] == [
        ("weekly", 150)
    ]


def test_an_update_recreates_a_limit_deleted_by_hand(fake: FakeRedshift, run: Harness) -> None:
    created = run(_event("Create", LIMIT, _limit_properties(fake)))["PhysicalResourceId"]
    fake.usage_limits.clear()
    response = run(
        _event(
            "Update",
            LIMIT,
            _limit_properties(fake, Amount="8"),
            physical_id=created,
            old=_limit_properties(fake),
        )
    )
    assert response["Status"] == "SUCCESS"
    assert [limit["amount"] for limit in fake.usage_limits.values()] == [8]
    assert response["PhysicalResourceId"] in fake.usage_limits


def test_delete_removes_the_limit_and_tolerates_one_already_gone(
    fake: FakeRedshift, run: Harness
) -> None:
    created = run(_event("Create", LIMIT, _limit_properties(fake)))["PhysicalResourceId"]
    for _ in range(2):
        response = run(_event("Delete", LIMIT, _limit_properties(fake), physical_id=created))
        assert response["Status"] == "SUCCESS"
    assert fake.usage_limits == {}
    nothing = run(_event("Delete", LIMIT, _limit_properties(fake), physical_id=setup.NOT_CREATED))
    assert nothing["Status"] == "SUCCESS"


@pytest.mark.parametrize(
    ("prop", "value", "allowed"),
    [
        ("Amount", "0", "a whole number of RPU-hours, at least 1"),
        ("Amount", "ten", "a whole number of RPU-hours, at least 1"),
        ("Period", "hourly", "one of daily, weekly, monthly"),
        ("BreachAction", "stop", "one of log, emit-metric, deactivate"),
        ("WorkgroupArn", "mlbp-test-warehouse", "a workgroup ARN"),
    ],
)
def test_invalid_usage_limits_are_refused_with_the_prop(
    fake: FakeRedshift, run: Harness, prop: str, value: str, allowed: str
) -> None:
    response = run(_event("Create", LIMIT, _limit_properties(fake, **{prop: value})))
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith(f"{prop}={value!r}: {allowed}")
    assert fake.usage_limits == {}


def test_a_usage_limit_on_a_missing_workgroup_fails(fake: FakeRedshift, run: Harness) -> None:
    fake.workgroup_exists = False
    response = run(_event("Create", LIMIT, _limit_properties(fake)))
    assert response["Status"] == "FAILED"
    assert "ResourceNotFoundException" in response["Reason"]


# ------------------------------------------------------------------------ the response PUT


@pytest.fixture
def response_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """CloudFormation's response URL, on loopback: records each PUT's headers and body."""
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(
                {
                    "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/response?X-Amz-Signature=abc", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_response_is_put_to_the_presigned_url(
    response_server: tuple[str, list[dict[str, Any]]], fake: FakeRedshift
) -> None:
    url, received = response_server
    event = _event("Create", SCHEMA, _schema_properties(SchemaName="Bad Name"))
    event["ResponseURL"] = url
    runtime = setup.Runtime(
        clients=setup.Clients(data=fake.data, serverless=fake.serverless), deadline=1e9
    )
    response = setup.handle(event, runtime, send=setup.send_response)
    assert received == [
        {
            "path": "/response?X-Amz-Signature=abc",
            "content_type": "",  # the pre-signed URL is signed without a content type
            "body": response,
        }
    ]
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("SchemaName='Bad Name': ")


def test_a_long_reason_is_cut_to_fit_cloudformations_limit(run: Harness) -> None:
    response = run(_event("Create", SCHEMA, _schema_properties(SchemaName="x" * 5000)))
    assert len(response["Reason"]) == setup.MAX_REASON
    assert len(json.dumps(response)) < 4096

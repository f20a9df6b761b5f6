"""CloudFormation custom resources that finish setting up a Redshift Serverless warehouse.

One Lambda function (Python, boto3 only) serves two resource types, so the warehouse needs
nothing CloudFormation cannot describe by hand:

``Custom::RedshiftExternalSchema``
    An external schema over a Glue Data Catalog database, for Redshift Spectrum, created
    with SQL through the Redshift Data API as the namespace's admin (whose credentials
    Redshift manages in Secrets Manager: the function looks the secret up with
    ``GetNamespace``). Properties: ``WorkgroupName``, ``NamespaceName``, ``Database``,
    ``SchemaName``, ``CatalogDatabase``, ``IamRoleArn``.

    - Create: ``CREATE EXTERNAL SCHEMA IF NOT EXISTS``.
    - Update: the same schema pointed at another catalog database or role is dropped and
      created again; an unchanged one is created if missing (so an update also repairs a
      schema dropped by hand); a renamed one is created under its new name and
      CloudFormation then deletes the old one.
    - Delete: ``DROP SCHEMA IF EXISTS`` (the Glue database and its data are untouched);
      nothing to do when the workgroup or namespace is already gone.

``Custom::RedshiftUsageLimit``
    A usage limit on a workgroup's compute (RPU-hours per day, week or month) and what
    happens when it is reached (``log``, ``emit-metric``, ``deactivate``): Redshift
    Serverless has no CloudFormation type for it. Properties: ``WorkgroupArn``, ``Amount``,
    ``Period``, ``BreachAction``. The physical id is the usage limit's id; create adopts a
    limit the workgroup already has for the same period (so a retried create never makes a
    second one), update changes it in place (or makes a new one for a new period or
    workgroup), delete removes it.

Every outcome is sent to CloudFormation's response URL: success with the physical id, or
failure with the reason (a failed SQL statement's error, an invalid property, a timeout),
so a stack never waits an hour for an answer. Invalid identifiers are refused before any
SQL is built.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

EXTERNAL_SCHEMA = "Custom::RedshiftExternalSchema"
USAGE_LIMIT = "Custom::RedshiftUsageLimit"
#: The physical id of a resource whose create failed: deleting it does nothing.
NOT_CREATED = "not-created"
#: Redshift Serverless usage-limit values accepted by the API.
PERIODS = ("daily", "weekly", "monthly")
BREACH_ACTIONS = ("log", "emit-metric", "deactivate")
COMPUTE = "serverless-compute"
#: Time kept back from the function's timeout to send the response.
RESPONSE_MARGIN_SECONDS = 10.0
#: CloudFormation accepts responses up to 4 KiB; the reason is cut well below that.
MAX_REASON = 1500

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,126}$")
_WORKGROUP = re.compile(r"^[a-z0-9-]{3,64}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_WORKGROUP_ARN = re.compile(r"^arn:aws[a-z-]*:redshift-serverless:[a-z0-9-]+:\d{12}:workgroup/.+$")
_DONE = {"FINISHED", "FAILED", "ABORTED"}


class SetupError(Exception):
    """A failure reported to CloudFormation with this message as the reason."""


@dataclass
class Clients:
    """The AWS APIs the function calls: ``data`` (redshift-data) and ``serverless``
    (redshift-serverless). Tests pass fakes with the same methods."""

    data: Any
    serverless: Any

    @classmethod
    def from_boto3(cls) -> Clients:
        import boto3  # in the Lambda runtime

        return cls(
            data=boto3.client("redshift-data"), serverless=boto3.client("redshift-serverless")
        )


@dataclass
class Runtime:
    """What a request may use: the clients, a clock, and how long is left."""

    clients: Clients
    deadline: float
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def left(self) -> float:
        return self.deadline - self.clock()


# ------------------------------------------------------------------------------ entry point


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: handle the request, send the response, return it."""
    remaining = context.get_remaining_time_in_millis() / 1000.0
    runtime = Runtime(
        clients=Clients.from_boto3(),
        deadline=time.monotonic() + remaining - RESPONSE_MARGIN_SECONDS,
    )
    return handle(event, runtime, send=send_response, log_stream=_log_stream(context))


def handle(
    event: Mapping[str, Any],
    runtime: Runtime,
    *,
    send: Callable[[str, dict[str, Any]], None],
    log_stream: str = "",
) -> dict[str, Any]:
    """Handle one CloudFormation request and send exactly one response for it."""
    LOG.info(
        "request %s",
        json.dumps({k: v for k, v in event.items() if k != "ResponseURL"}, default=str),
    )
    try:
        resource = RESOURCES.get(str(event.get("ResourceType")))
        if resource is None:
            raise SetupError(
                f"unknown resource type {event.get('ResourceType')!r}: this function serves "
                f"{', '.join(RESOURCES)}"
            )
        physical_id, data = resource(event, runtime)
        response = _response(event, "SUCCESS", physical_id, data=data)
    except Exception as error:  # every failure is reported, none is left to time out
        LOG.exception("request failed")
        reason = str(error) if isinstance(error, SetupError) else f"{type(error).__name__}: {error}"
        if log_stream:
            reason = f"{reason} (log stream {log_stream})"
        physical_id = str(event.get("PhysicalResourceId") or NOT_CREATED)
        response = _response(event, "FAILED", physical_id, reason=reason)
    send(str(event["ResponseURL"]), response)
    return response


def _response(
    event: Mapping[str, Any],
    status: str,
    physical_id: str,
    *,
    reason: str | None = None,
    data: dict[str, str] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "Status": status,
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "NoEcho": False,
        "Data": data or {},
    }
    if reason is not None:
        response["Reason"] = reason[:MAX_REASON]
    return response


def send_response(url: str, response: dict[str, Any], attempts: int = 3) -> None:
    """PUT ``response`` to CloudFormation's pre-signed ``url`` (retried on network errors)."""
    body = json.dumps(response).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="PUT",
            headers={"Content-Type": "", "Content-Length": str(len(body))},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                LOG.info("response %s sent: HTTP %s", response["Status"], answer.status)
                return
        except OSError:
            LOG.exception("sending the response failed (attempt %d of %d)", attempt, attempts)
            if attempt == attempts:
                raise
            time.sleep(2**attempt)


def _log_stream(context: Any) -> str:
    return str(getattr(context, "log_stream_name", "") or "")


# -------------------------------------------------------------------------- shared helpers


def _property(properties: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = properties.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise SetupError(f"{name}={value!r}: {what}")
    return value


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _is_missing(error: Exception) -> bool:
    """Whether ``error`` says the workgroup, namespace or usage limit does not exist."""
    code = _error_code(error)
    return code == "ResourceNotFoundException" or (
        code == "ValidationException" and "not found" in str(error).lower()
    )


# ------------------------------------------------------------------------- external schema


@dataclass(frozen=True)
class ExternalSchema:
    """The properties of a ``Custom::RedshiftExternalSchema``, validated."""

    workgroup: str
    namespace: str
    database: str
    schema: str
    catalog_database: str
    role_arn: str

    @classmethod
    def parse(cls, properties: Mapping[str, Any]) -> ExternalSchema:
        name = "a lowercase SQL identifier: letters, digits and '_', starting with a letter or '_'"
        return cls(
            workgroup=_property(properties, "WorkgroupName", _WORKGROUP, "a workgroup name"),
            namespace=_property(properties, "NamespaceName", _WORKGROUP, "a namespace name"),
            database=_property(properties, "Database", _IDENTIFIER, name),
            schema=_property(properties, "SchemaName", _IDENTIFIER, name),
            catalog_database=_property(properties, "CatalogDatabase", _IDENTIFIER, name),
            role_arn=_property(properties, "IamRoleArn", _ROLE_ARN, "an IAM role ARN"),
        )

    @property
    def physical_id(self) -> str:
        return f"{self.workgroup}/{self.database}/{self.schema}"

    def create_sql(self) -> str:
        return (
            f'CREATE EXTERNAL SCHEMA IF NOT EXISTS "{self.schema}" FROM DATA CATALOG '
            f"DATABASE '{self.catalog_database}' IAM_ROLE '{self.role_arn}'"
        )

    def drop_sql(self) -> str:
        return f'DROP SCHEMA IF EXISTS "{self.schema}"'


def _admin_secret(schema: ExternalSchema, runtime: Runtime) -> str:
    namespace = runtime.clients.serverless.get_namespace(namespaceName=schema.namespace)
    secret = namespace.get("namespace", {}).get("adminPasswordSecretArn")
    if not secret:
        raise SetupError(
            f"namespace {schema.namespace} has no admin secret managed by Redshift: create it "
            "with ManageAdminPassword so its admin can run the schema's SQL"
        )
    return str(secret)


def run_sql(schema: ExternalSchema, sql: str, secret_arn: str, runtime: Runtime) -> None:
    """Run one statement through the Data API and wait for it; a failed, aborted or
    unfinished statement raises :class:`SetupError` with Redshift's error."""
    statement = runtime.clients.data.execute_statement(
        WorkgroupName=schema.workgroup,
        Database=schema.database,
        SecretArn=secret_arn,
        Sql=sql,
        StatementName="ml-blueprints-setup",
    )
    statement_id = statement["Id"]
    delay = 0.5
    while True:
        described = runtime.clients.data.describe_statement(Id=statement_id)
        status = described.get("Status")
        if status == "FINISHED":
            return
        if status in _DONE:
            raise SetupError(
                f"{sql.split(' FROM ')[0]} {status.lower()} in workgroup {schema.workgroup}: "
                f"{described.get('Error') or 'no error given'}"
            )
        if runtime.left() <= delay:
            try:
                runtime.clients.data.cancel_statement(Id=statement_id)
            except Exception:  # the statement may have just finished; the timeout stands
                LOG.exception("cancelling statement %s failed", statement_id)
            raise SetupError(
                f"{sql.split(' FROM ')[0]} did not finish in time in workgroup "
                f"{schema.workgroup} (statement {statement_id}, last status {status})"
            )
        runtime.sleep(delay)
        delay = min(delay * 2, 5.0)


def external_schema(event: Mapping[str, Any], runtime: Runtime) -> tuple[str, dict[str, str]]:
    request = event["RequestType"]
    if request == "Delete":
        if event.get("PhysicalResourceId") == NOT_CREATED:
            return NOT_CREATED, {}
        schema = ExternalSchema.parse(event.get("ResourceProperties", {}))
        try:
            run_sql(schema, schema.drop_sql(), _admin_secret(schema, runtime), runtime)
        except Exception as error:
            if not _is_missing(error):
                raise
            LOG.info("nothing to drop: %s", error)
        return str(event["PhysicalResourceId"]), {}

    schema = ExternalSchema.parse(event.get("ResourceProperties", {}))
    secret = _admin_secret(schema, runtime)
    if request == "Update":
        try:
            old = ExternalSchema.parse(event.get("OldResourceProperties", {}))
        except SetupError:
            old = None
        repoint = (
            old is not None
            and old.physical_id == schema.physical_id
            and (old.catalog_database, old.role_arn) != (schema.catalog_database, schema.role_arn)
        )
        if repoint:
            run_sql(schema, schema.drop_sql(), secret, runtime)
    run_sql(schema, schema.create_sql(), secret, runtime)
    return schema.physical_id, {"SchemaName": schema.schema}


# ----------------------------------------------------------------------------- usage limit


@dataclass(frozen=True)
class UsageLimit:
    """The properties of a ``Custom::RedshiftUsageLimit``, validated."""

    workgroup_arn: str
    amount: int
    period: str
    breach_action: str

    @classmethod
    def parse(cls, properties: Mapping[str, Any]) -> UsageLimit:
        arn = _property(properties, "WorkgroupArn", _WORKGROUP_ARN, "a workgroup ARN")
        raw = properties.get("Amount")  # CloudFormation passes numbers as strings
        if not re.fullmatch(r"[1-9]\d{0,8}", str(raw)):
            raise SetupError(f"Amount={raw!r}: a whole number of RPU-hours, at least 1")
        period = properties.get("Period")
        if period not in PERIODS:
            raise SetupError(f"Period={period!r}: one of {', '.join(PERIODS)}")
        action = properties.get("BreachAction")
        if action not in BREACH_ACTIONS:
            raise SetupError(f"BreachAction={action!r}: one of {', '.join(BREACH_ACTIONS)}")
        return cls(arn, int(str(raw)), str(period), str(action))


def _existing_limit(limit: UsageLimit, runtime: Runtime) -> str | None:
    """The id of the workgroup's compute limit for ``limit``'s period, if it has one."""
    kwargs: dict[str, Any] = {"resourceArn": limit.workgroup_arn, "usageType": COMPUTE}
    while True:
        page = runtime.clients.serverless.list_usage_limits(**kwargs)
        for existing in page.get("usageLimits", []):
            if existing.get("period") == limit.period:
                return str(existing["usageLimitId"])
        if not page.get("nextToken"):
            return None
        kwargs["nextToken"] = page["nextToken"]


def _create_or_adopt(limit: UsageLimit, runtime: Runtime) -> str:
    existing = _existing_limit(limit, runtime)
    if existing is not None:
        runtime.clients.serverless.update_usage_limit(
            usageLimitId=existing, amount=limit.amount, breachAction=limit.breach_action
        )
        return existing
    created = runtime.clients.serverless.create_usage_limit(
        resourceArn=limit.workgroup_arn,
        usageType=COMPUTE,
        amount=limit.amount,
        period=limit.period,
        breachAction=limit.breach_action,
    )
    return str(created["usageLimit"]["usageLimitId"])


def usage_limit(event: Mapping[str, Any], runtime: Runtime) -> tuple[str, dict[str, str]]:
    request = event["RequestType"]
    physical_id = str(event.get("PhysicalResourceId") or NOT_CREATED)
    if request == "Delete":
        if physical_id != NOT_CREATED:
            try:
                runtime.clients.serverless.delete_usage_limit(usageLimitId=physical_id)
            except Exception as error:
                if not _is_missing(error):
                    raise
                LOG.info("nothing to delete: %s", error)
        return physical_id, {}

    limit = UsageLimit.parse(event.get("ResourceProperties", {}))
    if request == "Update" and physical_id != NOT_CREATED:
        try:
            old = UsageLimit.parse(event.get("OldResourceProperties", {}))
        except SetupError:
            old = None
        if old is not None and (old.workgroup_arn, old.period) == (
            limit.workgroup_arn,
            limit.period,
        ):
            try:
                runtime.clients.serverless.update_usage_limit(
                    usageLimitId=physical_id, amount=limit.amount, breachAction=limit.breach_action
                )
                return physical_id, {"UsageLimitId": physical_id}
            except Exception as error:
                if not _is_missing(error):
                    raise
                LOG.info("the usage limit is gone, creating it again: %s", error)
    usage_limit_id = _create_or_adopt(limit, runtime)
    return usage_limit_id, {"UsageLimitId": usage_limit_id}


#: The function's resource types and their handlers.
RESOURCES: dict[str, Callable[[Mapping[str, Any], Runtime], tuple[str, dict[str, str]]]] = {
    EXTERNAL_SCHEMA: external_schema,
    USAGE_LIMIT: usage_limit,
}

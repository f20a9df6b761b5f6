"""A fake of the Redshift Data API and of Redshift Serverless' namespace and usage-limit API,
in memory, for the setup function's tests (moto's Data API never finishes a statement and
knows no workgroups or SQL; moto has no Redshift Serverless).

It models what the function relies on and what can go wrong:

- Every call is checked against botocore's model of the real API (parameter names, types,
  required members, enums): a call the service would refuse fails here too.
- Statements go SUBMITTED -> STARTED -> FINISHED over ``describe_statement`` calls (or
  never finish, when ``hang`` is set), and fail as Redshift does: a wrong secret, a role
  not attached to the namespace, a catalog database that does not exist.
- The SQL the function sends is interpreted for what it does to the database's schemas:
  ``CREATE EXTERNAL SCHEMA IF NOT EXISTS`` leaves an existing schema as it is (pointed at
  whatever database it was), ``DROP SCHEMA IF EXISTS`` removes it. Anything else fails.
- A missing workgroup, namespace or usage limit is a ``ResourceNotFoundException``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

ACCOUNT = "111122223333"
REGION = "eu-west-1"

_MODELS = {
    name: botocore.session.get_session().get_service_model(name)
    for name in ("redshift-data", "redshift-serverless")
}
_CREATE = re.compile(
    r"^CREATE EXTERNAL SCHEMA IF NOT EXISTS \"(?P<schema>[a-z_][a-z0-9_]*)\" FROM DATA CATALOG "
    r"DATABASE '(?P<database>[a-z_][a-z0-9_]*)' IAM_ROLE '(?P<role>arn:[^']+)'$"
)
_DROP = re.compile(r"^DROP SCHEMA IF EXISTS \"(?P<schema>[a-z_][a-z0-9_]*)\"$")


def _checked(service: str, operation: str, params: dict[str, Any]) -> None:
    shape = _MODELS[service].operation_model(operation).input_shape
    validate_parameters(params, shape)


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class FakeRedshift:
    """One namespace and its workgroup, a Glue catalog's database names, usage limits."""

    workgroup: str = "mlbp-test-warehouse"
    namespace: str = "mlbp-test-warehouse"
    database: str = "warehouse"
    admin: str = "warehouse_admin"
    roles: tuple[str, ...] = (f"arn:aws:iam::{ACCOUNT}:role/mlbp-test-svc-spectrum",)
    catalog_databases: tuple[str, ...] = ("mlbp_test_lake", "other_lake")
    #: describe_statement calls before a statement finishes; ``hang``: it never does.
    describes_to_finish: int = 2
    hang: bool = False
    #: schema -> (catalog database, role) in ``database``
    schemas: dict[str, tuple[str, str]] = field(default_factory=dict)
    usage_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    workgroup_exists: bool = True
    namespace_exists: bool = True
    _statements: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def secret_arn(self) -> str:
        return (
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
            f"redshift!{self.namespace}-{self.admin}-AbC123"
        )

    @property
    def workgroup_arn(self) -> str:
        return f"arn:aws:redshift-serverless:{REGION}:{ACCOUNT}:workgroup/0f3c-{self.workgroup}"

    @property
    def data(self) -> _DataApi:
        return _DataApi(self)

    @property
    def serverless(self) -> _ServerlessApi:
        return _ServerlessApi(self)

    def _uuid(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._ids):012d}"

    # ------------------------------------------------------------------------------ SQL

    def _run(self, sql: str, secret_arn: str) -> str | None:
        """Apply ``sql``; return the error Redshift would give, or None."""
        if secret_arn != self.secret_arn:
            return f'password authentication failed for user "{self.admin}"'
        if created := _CREATE.match(sql):
            schema, database, role = created.group("schema", "database", "role")
            if schema in self.schemas:
                return None  # IF NOT EXISTS: the existing schema is left as it is
            if role not in self.roles:
                return (
                    f"User arn:aws:redshift:{REGION}:{ACCOUNT}:dbuser:{self.workgroup}/"
                    f"{self.admin} is not authorized to assume IAM Role {role}"
                )
            if database not in self.catalog_databases:
                return f"External database {database} does not exist in the AWS Glue catalog"
            self.schemas[schema] = (database, role)
            return None
        if dropped := _DROP.match(sql):
            self.schemas.pop(dropped.group("schema"), None)
            return None
        return f'syntax error at or near "{sql.split()[0]}"'


class _DataApi:
    def __init__(self, fake: FakeRedshift) -> None:
        self.fake = fake

    def execute_statement(self, **params: Any) -> dict[str, Any]:
        _checked("redshift-data", "ExecuteStatement", params)
        fake = self.fake
        fake.calls.append("ExecuteStatement")
        if params.get("WorkgroupName") != fake.workgroup or not fake.workgroup_exists:
            raise _error(
                "ResourceNotFoundException",
                f"Workgroup {params.get('WorkgroupName')} not found.",
                "ExecuteStatement",
            )
        if params.get("Database") != fake.database:
            raise _error("ValidationException", "Database does not exist", "ExecuteStatement")
        statement_id = fake._uuid()
        fake.executed.append(params["Sql"])
        fake._statements[statement_id] = {
            "Id": statement_id,
            "Sql": params["Sql"],
            "Secret": params.get("SecretArn", ""),
            "Describes": 0,
            "Status": "SUBMITTED",
        }
        return {"Id": statement_id, "WorkgroupName": fake.workgroup, "Database": fake.database}

    def describe_statement(self, **params: Any) -> dict[str, Any]:
        _checked("redshift-data", "DescribeStatement", params)
        statement = self.fake._statements.get(params["Id"])
        if statement is None:
            raise _error("ResourceNotFoundException", "Query does not exist.", "DescribeStatement")
        statement["Describes"] += 1
        if statement["Status"] in ("SUBMITTED", "STARTED"):
            if self.fake.hang or statement["Describes"] < self.fake.describes_to_finish:
                statement["Status"] = "STARTED"
            else:
                error = self.fake._run(statement["Sql"], statement["Secret"])
                statement["Status"] = "FAILED" if error else "FINISHED"
                statement["Error"] = error
        answer = {"Id": statement["Id"], "Status": statement["Status"]}
        if statement.get("Error"):
            answer["Error"] = statement["Error"]
        return answer

    def cancel_statement(self, **params: Any) -> dict[str, Any]:
        _checked("redshift-data", "CancelStatement", params)
        statement = self.fake._statements[params["Id"]]
        statement["Status"] = "ABORTED"
        self.fake.cancelled.append(params["Id"])
        return {"Status": True}


class _ServerlessApi:
    def __init__(self, fake: FakeRedshift) -> None:
        self.fake = fake

    def get_namespace(self, **params: Any) -> dict[str, Any]:
        _checked("redshift-serverless", "GetNamespace", params)
        fake = self.fake
        if params["namespaceName"] != fake.namespace or not fake.namespace_exists:
            raise _error("ResourceNotFoundException", "Namespace not found.", "GetNamespace")
        return {
            "namespace": {
                "namespaceName": fake.namespace,
                "adminUsername": fake.admin,
                "adminPasswordSecretArn": fake.secret_arn,
                "iamRoles": list(fake.roles),
            }
        }

    def _limit(self, usage_limit_id: str, operation: str) -> dict[str, Any]:
        if usage_limit_id not in self.fake.usage_limits:
            raise _error("ResourceNotFoundException", "Usage limit not found.", operation)
        return self.fake.usage_limits[usage_limit_id]

    def create_usage_limit(self, **params: Any) -> dict[str, Any]:
        _checked("redshift-serverless", "CreateUsageLimit", params)
        fake = self.fake
        if params["resourceArn"] != fake.workgroup_arn or not fake.workgroup_exists:
            raise _error("ResourceNotFoundException", "Workgroup not found.", "CreateUsageLimit")
        usage_limit_id = fake._uuid()
        fake.usage_limits[usage_limit_id] = {
            "usageLimitId": usage_limit_id,
            "resourceArn": params["resourceArn"],
            "usageType": params["usageType"],
            "amount": params["amount"],
            "period": params.get("period", "monthly"),
            "breachAction": params.get("breachAction", "log"),
        }
        return {"usageLimit": dict(fake.usage_limits[usage_limit_id])}

    def update_usage_limit(self, **params: Any) -> dict[str, Any]:
        _checked("redshift-serverless", "UpdateUsageLimit", params)
        limit = self._limit(params["usageLimitId"], "UpdateUsageLimit")
        limit.update(
            {k: params[k] for k in ("amount", "breachAction") if k in params},
        )
        return {"usageLimit": dict(limit)}

    def delete_usage_limit(self, **params: Any) -> dict[str, Any]:
        _checked("redshift-serverless", "DeleteUsageLimit", params)
        limit = self._limit(params["usageLimitId"], "DeleteUsageLimit")
        del self.fake.usage_limits[params["usageLimitId"]]
        return {"usageLimit": limit}

    def list_usage_limits(self, **params: Any) -> dict[str, Any]:
        _checked("redshift-serverless", "ListUsageLimits", params)
        found = [
            dict(limit)
            for limit in self.fake.usage_limits.values()
            if limit["resourceArn"] == params.get("resourceArn", limit["resourceArn"])
            and limit["usageType"] == params.get("usageType", limit["usageType"])
        ]
        # One per page, to exercise the function's paging.
        start = int(params.get("nextToken", "page-0000").removeprefix("page-"))
        page: dict[str, Any] = {"usageLimits": found[start : start + 1]}
        if start + 1 < len(found):
            page["nextToken"] = f"page-{start + 1:04d}"
        return page

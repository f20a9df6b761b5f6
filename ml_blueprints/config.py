"""Typed settings for the app, read from CDK context and validated with clear errors.

Pass them on the command line (``cdk synth -c env_name=prod -c sandbox=true``) or set them
in ``cdk.json`` under ``context``. Values from the command line arrive as strings, so
booleans accept ``true/false/yes/no/1/0`` and numbers accept their decimal text.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from constructs import Node

from ml_blueprints.constructs.shared.defaults import LOG_RETENTION_ALLOWED, LOG_RETENTION_DAYS
from ml_blueprints.validation import PropErrors

#: Every context key the app reads, with what it means. The README lists the same keys.
CONTEXT_KEYS: dict[str, str] = {
    "env_name": "environment name used in stack names and the `environment` tag (default: dev)",
    "sandbox": "true: every stateful resource is destroyed with its stack and buckets are "
    "emptied first; false (default): data is retained when a stack is deleted",
    "account": "AWS account id for the stacks (default: none, environment-agnostic)",
    "region": "AWS region for the stacks (default: none, environment-agnostic)",
    "max_azs": "availability zones for the VPC, 2 to 6 (default: 2)",
    "nat_gateways": "NAT gateways, 0 to max_azs (default: 0: isolated subnets, no egress cost)",
    "log_retention_days": "retention of the app's CloudWatch log groups (default: 365)",
    "bucket_name_prefix": "prefix for explicit bucket names (default: none, "
    "CloudFormation generates unique names)",
    "emr": "true: add the EmrStack (an EMR Spark cluster, billed while it runs; default false)",
    "ml_notebook": "true: add a GPU notebook instance to the Ml stack (stops itself when idle; "
    "default false)",
    "ml_endpoint": "true: add a real-time inference endpoint to the Ml stack (billed every hour; "
    "default false); needs ml_model_data_url",
    "ml_model_data_url": "s3:// URI of the model artifact the endpoint serves",
    "governance": "true (default): add the Governance stack (monthly cost budget, CloudTrail "
    "audit trail with S3 data events on the lake's zones); false: leave it out",
    "budget_usd": "monthly cost budget in US dollars for the project's tagged resources "
    "(default: 50)",
    "budget_emails": "comma-separated e-mail addresses subscribed to the budget's alert topic "
    "(default: none)",
    "stream_shards": "Kinesis capacity of the real-time stream: a provisioned shard count "
    "(1 to 500) or on-demand (default: 1 shard in sandbox mode, on-demand otherwise)",
    "warehouse": "true: add a Redshift Serverless warehouse to the Serving stack (billed per "
    "RPU-hour of queries, $0 compute idle; the VPC then spans at least 3 AZs; default false)",
    "dms": "true: add a DMS Serverless replication of a MySQL database to the Ingestion stack "
    "(billed per DCU-hour while it replicates, plus a Secrets Manager endpoint by the hour; "
    "default false); needs dms_source_host, dms_source_database, dms_source_secret_arn",
    "dms_source_host": "the MySQL server's DNS name or IPv4 address, as the VPC reaches it",
    "dms_source_port": "its port (default: 3306)",
    "dms_source_database": "the MySQL schema to replicate (every table in it)",
    "dms_source_secret_arn": "ARN of the Secrets Manager secret DMS reads: JSON with "
    "username, password, host and port",
    "dms_source_cidr": "where the database is, the only place the replication may connect "
    "to (default: the host/32 for an IPv4 host, the VPC's CIDR otherwise)",
    "dms_service_roles": "true (default): create the account-wide dms-vpc-role and "
    "dms-cloudwatch-logs-role DMS needs; false when the account has them already",
    "batch_image": "a private ECR image URI (with tag or digest): add a daily AWS Batch "
    "Fargate job running it to the Ingestion stack (billed per vCPU- and GB-hour while it "
    "runs, plus three interface endpoints by the hour; default: none)",
    "datasync_agent_arn": "ARN of an activated DataSync agent: add a scheduled DataSync task "
    "from datasync_source to the raw zone to the Ingestion stack (default: none)",
    "datasync_source": "the share the agent reads: nfs://server/export/path or "
    "smb://server/share/path",
    "datasync_smb_user": "for an smb:// source: the user DataSync mounts the share as",
    "datasync_smb_domain": "for an smb:// source: that user's Windows domain (default: none)",
    "datasync_smb_secret_arn": "for an smb:// source: ARN of the Secrets Manager secret "
    "holding that user's password",
}

# Matched with ``fullmatch``: ``$`` would also match before a trailing newline ("prod\n").
_ENV_NAME = re.compile(r"[a-z][a-z0-9-]{0,15}")
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
ON_DEMAND = "on-demand"
MAX_STREAM_SHARDS = 500
MAX_BUDGET_USD = 1_000_000
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}

PROJECT_TAG = "ml-blueprints"

#: Context keys that belong to the CDK itself (feature flags in cdk.json, what the CLI adds,
#: lookups cached in cdk.context.json), not to this app. Any key with ``:`` or ``/`` in it or
#: starting with ``@`` is one too ("@aws-cdk/core:...", "aws:cdk:enable-path-metadata",
#: "availability-zones:account=...:region=...").
_CDK_KEY_PREFIXES = ("@aws-cdk/", "@aws-cdk-containers/", "aws:cdk:", "aws-cdk:", "cdk-")
_CDK_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry"})


def _is_cdk_key(key: str) -> bool:
    return (
        key in _CDK_KEYS
        or key.startswith(_CDK_KEY_PREFIXES)
        or key.startswith("@")
        or ":" in key
        or "/" in key
    )


@dataclass(frozen=True)
class Settings:
    """The app's configuration. Every field has the default a newcomer gets."""

    env_name: str = "dev"
    sandbox: bool = False
    account: str | None = None
    region: str | None = None
    max_azs: int = 2
    nat_gateways: int = 0
    log_retention_days: int = 365
    bucket_name_prefix: str | None = None
    emr: bool = False
    ml_notebook: bool = False
    ml_endpoint: bool = False
    ml_model_data_url: str | None = None
    governance: bool = True
    budget_usd: float = 50.0
    budget_emails: tuple[str, ...] = ()
    stream_shards: int | str | None = None
    warehouse: bool = False
    dms: bool = False
    dms_source_host: str | None = None
    dms_source_port: int = 3306
    dms_source_database: str | None = None
    dms_source_secret_arn: str | None = None
    dms_source_cidr: str | None = None
    dms_service_roles: bool = True
    batch_image: str | None = None
    datasync_agent_arn: str | None = None
    datasync_source: str | None = None
    datasync_smb_user: str | None = None
    datasync_smb_domain: str | None = None
    datasync_smb_secret_arn: str | None = None

    @property
    def removal_policy(self) -> cdk.RemovalPolicy:
        """DESTROY in sandbox mode, RETAIN otherwise: the app's one removal switch."""
        return cdk.RemovalPolicy.DESTROY if self.sandbox else cdk.RemovalPolicy.RETAIN

    @property
    def environment(self) -> cdk.Environment | None:
        """The stacks' environment, or ``None`` for environment-agnostic stacks."""
        if self.account is None and self.region is None:
            return None
        return cdk.Environment(account=self.account, region=self.region)

    @property
    def tags(self) -> dict[str, str]:
        """Tags applied to every resource."""
        return {"project": PROJECT_TAG, "environment": self.env_name}

    @property
    def service_role_prefix(self) -> str:
        """Name prefix of the platform's service roles that reach the lake from outside the
        VPC (Firehose, Glue): the lake exempts this prefix from its endpoint restriction."""
        return f"mlbp-{self.env_name}-svc-"

    @property
    def interface_endpoints(self) -> tuple[str, ...]:
        """Interface endpoints the enabled layers need in the isolated subnets (each billed by
        the hour per AZ, so only for layers that are on): EMR needs its service API, KMS, STS
        and Glue; the GPU notebook needs the SageMaker API (to stop itself) and STS."""
        needed: list[str] = []
        if self.emr:
            needed += ["elasticmapreduce", "kms", "sts", "glue"]
        if self.ml_notebook:
            needed += ["sagemaker.api", "sts"]
        return tuple(dict.fromkeys(needed))

    @property
    def stream_shard_count(self) -> int | None:
        """Provisioned shards of the real-time stream, or ``None`` for on-demand capacity.

        By default 1 shard in sandbox mode (about $11 a month instead of an on-demand
        stream's $29 per stream-hour charge; 1 MB/s or 1,000 records/s of writes) and
        on-demand otherwise; ``stream_shards`` overrides both."""
        if self.stream_shards == ON_DEMAND:
            return None
        if isinstance(self.stream_shards, int):
            return self.stream_shards
        return 1 if self.sandbox else None

    @property
    def network_azs(self) -> int:
        """Availability zones the VPC spans: ``max_azs``, raised to 3 when the warehouse is
        on (Redshift Serverless requires subnets in three AZs)."""
        return max(self.max_azs, 3) if self.warehouse else self.max_azs

    def stack_name(self, layer: str) -> str:
        """CloudFormation stack name for an architecture layer, e.g. ``mlbp-dev-data-lake``."""
        return f"mlbp-{self.env_name}-{layer}"


def _as_bool(raw: Any, key: str, errors: PropErrors) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    errors.add(key, raw, "a boolean: true or false")
    return None


def _as_int(raw: Any, key: str, errors: PropErrors) -> int | None:
    if isinstance(raw, bool):
        errors.add(key, raw, "a whole number")
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
        return int(raw)
    errors.add(key, raw, "a whole number")
    return None


def settings_from_context(node: Node) -> Settings:
    """Read and validate :class:`Settings` from ``node``'s CDK context.

    Raises one ``ValueError`` naming every bad key, its value and what is allowed: also
    every key that is neither one of :data:`CONTEXT_KEYS` nor the CDK's own (with the
    closest known key as a suggestion), and every value with leading or trailing whitespace.
    """
    errors = PropErrors("CDK context")
    defaults = Settings()
    values: dict[str, Any] = {}
    context = node.get_all_context()
    refused = _check_keys_and_whitespace(context, errors)

    def get(key: str) -> Any:
        return None if key in refused else node.try_get_context(key)

    patterns = {
        "env_name": (
            _ENV_NAME,
            "1-16 characters: lowercase letters, digits and hyphens, starting with a letter",
        ),
        "account": (_ACCOUNT, "12 digits"),
        "region": (_REGION, "an AWS region name such as eu-west-1"),
    }
    for key, (pattern, allowed) in patterns.items():
        raw = get(key)
        if raw is None:
            continue
        text = str(raw) if key == "account" and isinstance(raw, int) else raw
        ok = isinstance(text, str) and bool(pattern.fullmatch(text))
        if errors.require(ok, key, raw, allowed):
            values[key] = text

    for key in ("sandbox", "emr", "ml_notebook", "ml_endpoint", "governance", "warehouse"):
        raw = get(key)
        if raw is not None and (parsed := _as_bool(raw, key, errors)) is not None:
            values[key] = parsed

    for key in ("max_azs", "nat_gateways", "log_retention_days"):
        raw = get(key)
        if raw is not None and (parsed := _as_int(raw, key, errors)) is not None:
            values[key] = parsed

    max_azs = values.get("max_azs", defaults.max_azs)
    if "max_azs" in values:
        errors.require(2 <= max_azs <= 6, "max_azs", max_azs, "2 to 6")
    if "nat_gateways" in values:
        nat = values["nat_gateways"]
        errors.require(0 <= nat <= max_azs, "nat_gateways", nat, f"0 to max_azs ({max_azs})")
    if "log_retention_days" in values:
        days = values["log_retention_days"]
        errors.require(
            days in LOG_RETENTION_DAYS,
            "log_retention_days",
            days,
            LOG_RETENTION_ALLOWED,
        )

    url = get("ml_model_data_url")
    if url is not None and errors.require(
        isinstance(url, str) and bool(re.fullmatch(r"s3://[a-z0-9.-]{3,63}/.+", url)),
        "ml_model_data_url",
        url,
        "an s3:// URI of a model artifact, e.g. s3://bucket/models/job/output/model.tar.gz",
    ):
        values["ml_model_data_url"] = url
    if values.get("ml_endpoint") and "ml_model_data_url" not in values:
        errors.add(
            "ml_endpoint",
            True,
            "false unless ml_model_data_url names the model to serve (train one with the "
            "Ml stack's training pipeline first)",
        )

    _read_governance(get, values, errors)
    _read_ingestion(get, values, errors)

    prefix = get("bucket_name_prefix")
    if prefix is not None:
        values["bucket_name_prefix"] = prefix  # validated by SecureDataLake, which uses it

    errors.raise_if_any()
    return Settings(**values)


def _check_keys_and_whitespace(context: dict[str, Any], errors: PropErrors) -> set[str]:
    """Record every key that is neither the app's nor the CDK's (a typo such as ``sandbx``
    would otherwise be ignored silently, with its default in force) and every value of the
    app's with leading or trailing whitespace (``"prod\\n"`` from a script would otherwise fail
    deep inside the CDK). Returns the app's keys refused here, so they are not checked again."""
    refused: set[str] = set()
    for key, raw in context.items():
        if key in CONTEXT_KEYS:
            if isinstance(raw, str) and raw != raw.strip():
                errors.add(key, raw, "no leading or trailing whitespace (spaces, tabs, newlines)")
                refused.add(key)
        elif not _is_cdk_key(key):
            close = difflib.get_close_matches(key, list(CONTEXT_KEYS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see the README for the keys"
            errors.add(key, raw, f"not a context key of this app ({hint})")
    return refused


def _read_governance(get: Any, values: dict[str, Any], errors: PropErrors) -> None:
    """``budget_usd``, ``budget_emails`` and ``stream_shards`` into ``values``."""
    amount = get("budget_usd")
    if amount is not None:
        number = isinstance(amount, int | float) and not isinstance(amount, bool)
        text = isinstance(amount, str) and re.fullmatch(r"\d+(\.\d{1,2})?", amount.strip())
        parsed = float(amount) if number or text else None
        if errors.require(
            parsed is not None and 1 <= parsed <= MAX_BUDGET_USD,
            "budget_usd",
            amount,
            f"US dollars a month, 1 to {MAX_BUDGET_USD:,} (at most 2 decimals), e.g. 50",
        ):
            values["budget_usd"] = parsed

    emails = get("budget_emails")
    if emails is not None:
        listed = (
            [e.strip() for e in emails.split(",") if e.strip()]
            if isinstance(emails, str)
            else emails
        )
        if errors.require(
            isinstance(listed, list | tuple)
            and len(listed) <= 10
            and all(isinstance(e, str) and _EMAIL.fullmatch(e) for e in listed),
            "budget_emails",
            emails,
            "up to 10 comma-separated e-mail addresses, e.g. ops@example.com,fin@example.com",
        ):
            values["budget_emails"] = tuple(listed)

    shards = get("stream_shards")
    if shards is not None:
        if isinstance(shards, str) and shards.strip().lower() == ON_DEMAND:
            values["stream_shards"] = ON_DEMAND
            return
        count = _as_int(shards, "stream_shards", PropErrors("stream_shards"))
        if errors.require(
            count is not None and 1 <= count <= MAX_STREAM_SHARDS,
            "stream_shards",
            shards,
            f"a shard count, 1 to {MAX_STREAM_SHARDS}, or '{ON_DEMAND}'",
        ):
            values["stream_shards"] = count


_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+")
_AGENT_ARN = re.compile(r"arn:aws[a-z-]*:datasync:[a-z0-9-]+:\d{12}:agent/agent-[0-9a-z]{17}")
_SHARE = re.compile(r"(?P<scheme>nfs|smb)://(?P<server>[A-Za-z0-9.-]+)(?P<path>/[^\s]*)")


def _read_ingestion(get: Any, values: dict[str, Any], errors: PropErrors) -> None:
    """The Ingestion stack's opt-ins: ``dms`` and its source, ``batch_image``,
    ``datasync_*``. Values are checked for shape here; the constructs check the rest."""
    for key in ("dms", "dms_service_roles"):
        raw = get(key)
        if raw is not None and (parsed := _as_bool(raw, key, errors)) is not None:
            values[key] = parsed
    strings = (
        "dms_source_host",
        "dms_source_database",
        "dms_source_cidr",
        "batch_image",
        "datasync_smb_user",
        "datasync_smb_domain",
    )
    for key in strings:
        raw = get(key)
        if raw is not None and errors.require(
            isinstance(raw, str) and raw.strip() != "", key, raw, "a non-empty string"
        ):
            values[key] = raw
    port = get("dms_source_port")
    if port is not None:
        parsed = _as_int(port, "dms_source_port", PropErrors("dms_source_port"))
        if errors.require(
            parsed is not None and 1 <= parsed <= 65535, "dms_source_port", port, "1 to 65535"
        ):
            values["dms_source_port"] = parsed
    patterns = {
        "dms_source_secret_arn": (_SECRET_ARN, "a Secrets Manager secret ARN"),
        "datasync_smb_secret_arn": (_SECRET_ARN, "a Secrets Manager secret ARN"),
        "datasync_agent_arn": (
            _AGENT_ARN,
            "an activated DataSync agent's ARN, arn:aws:datasync:<region>:<account>:"
            "agent/agent-<17 characters>",
        ),
        "datasync_source": (_SHARE, "nfs://server/export/path or smb://server/share/path"),
    }
    for key, (pattern, allowed) in patterns.items():
        raw = get(key)
        if raw is not None and errors.require(
            isinstance(raw, str) and bool(pattern.fullmatch(raw)), key, raw, allowed
        ):
            values[key] = raw
    if values.get("dms"):
        missing = [
            key
            for key in ("dms_source_host", "dms_source_database", "dms_source_secret_arn")
            if key not in values
        ]
        errors.require(
            not missing,
            "dms",
            True,
            f"false unless {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} given "
            "too (the database to replicate)",
        )
    if "datasync_agent_arn" in values:
        source = values.get("datasync_source")
        errors.require(
            source is not None,
            "datasync_agent_arn",
            values["datasync_agent_arn"],
            "given with datasync_source (nfs://... or smb://...)",
        )
        if source is not None and source.startswith("smb://"):
            missing = [
                k for k in ("datasync_smb_user", "datasync_smb_secret_arn") if k not in values
            ]
            errors.require(
                not missing,
                "datasync_source",
                source,
                f"an smb:// source needs {' and '.join(missing)} too",
            )

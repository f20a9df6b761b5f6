"""SecureDataLake's props: the per-zone lifecycle, the defaults, and the checks that run
before anything is built (:func:`validate_lake_props`, :func:`exempt_arn_problem`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2

from ml_blueprints.constructs.shared.defaults import LOG_RETENTION_ALLOWED, LOG_RETENTION_DAYS
from ml_blueprints.validation import PropErrors, TypedProps


@dataclass(frozen=True)
class ZoneLifecycle(TypedProps):
    """How one zone's objects age. ``None`` switches a step off.

    - ``infrequent_access_after_days``: move current objects to STANDARD_IA (S3's minimum
      is 30 days).
    - ``glacier_after_days``: move current objects to Glacier Flexible Retrieval (at least
      30 days after STANDARD_IA when both are set).
    - ``expire_after_days``: delete current objects (after any transition).
    - ``noncurrent_versions_expire_after_days``: delete overwritten or deleted versions.
    """

    infrequent_access_after_days: int | None = None
    glacier_after_days: int | None = None
    expire_after_days: int | None = None
    noncurrent_versions_expire_after_days: int | None = 30


#: The zones of the course notes' lake: landed as-is, cleaned, and served to analytics.
DEFAULT_ZONES: tuple[str, ...] = ("raw", "curated", "analytics")

#: Per-zone lifecycles. Raw data is the source of truth (kept forever, tiered to Glacier as it
#: cools, old versions kept 90 days for recovery); curated data is rebuilt from raw so it only
#: tiers to STANDARD_IA; analytics outputs are hot and short-lived versions are dropped fast.
DEFAULT_LIFECYCLES: Mapping[str, ZoneLifecycle] = {
    "raw": ZoneLifecycle(
        infrequent_access_after_days=30,
        glacier_after_days=180,
        noncurrent_versions_expire_after_days=90,
    ),
    "curated": ZoneLifecycle(infrequent_access_after_days=90),
    "analytics": ZoneLifecycle(),
}

#: Lifecycle of a zone the caller adds and gives no lifecycle of its own.
DEFAULT_ZONE_LIFECYCLE = ZoneLifecycle()

ACCESS_LOGS = "access-logs"
_ZONE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_BUCKET_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$|^[a-z0-9]$")
_S3_MIN_STANDARD_IA_DAYS = 30
_ROLE_PREFIX = re.compile(r"^[A-Za-z0-9+=,.@_-]{3,40}$")
_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")
_EXEMPT_ARN = re.compile(
    r"arn:(aws[a-z-]*|TOKEN):iam::(\d{12}|TOKEN):"
    r"(?P<kind>role|user)/(?P<name>[A-Za-z0-9+=,.@_/*?-]*(TOKEN)?[A-Za-z0-9+=,.@_/*?-]*)"
)
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com")


def validate_lake_props(
    *,
    zones: Sequence[str],
    bucket_name_prefix: str | None,
    lifecycle: Mapping[str, ZoneLifecycle],
    abort_days: int,
    access_log_retention_days: int,
    log_retention_days: int,
    vpc_endpoint: ec2.IVpcEndpoint | None,
    exempt_arns: Sequence[str],
    exempt_role_prefixes: Sequence[str],
    exempt_called_via: tuple[str, ...] | None,
    removal_policy: cdk.RemovalPolicy,
    auto_delete_objects: bool,
) -> None:
    errors = PropErrors("SecureDataLake")
    errors.require(len(zones) > 0, "zones", list(zones), "at least one zone")
    seen: set[str] = set()
    for zone in zones:
        if not errors.require(
            isinstance(zone, str) and bool(_ZONE_NAME.match(zone)),
            "zones",
            zone,
            "1-20 characters: lowercase letters, digits and hyphens, starting with a letter",
        ):
            continue
        errors.require(zone not in seen, "zones", zone, "each zone once (duplicate name)")
        errors.require(
            zone != ACCESS_LOGS, "zones", zone, f"not {ACCESS_LOGS!r}: reserved for access logs"
        )
        seen.add(zone)

    if bucket_name_prefix is not None and not cdk.Token.is_unresolved(bucket_name_prefix):
        longest = max([ACCESS_LOGS, *[z for z in zones if isinstance(z, str)]], key=len)
        limit = 63 - len(longest) - 1
        errors.require(
            bool(_BUCKET_PREFIX.match(bucket_name_prefix))
            and ".." not in bucket_name_prefix
            and not bucket_name_prefix.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
            and 3 <= len(bucket_name_prefix) <= limit,
            "bucket_name_prefix",
            bucket_name_prefix,
            f"3-{limit} characters of lowercase letters, digits, hyphens and dots, starting "
            "and ending with a letter or digit, no '..', not starting with 'xn--', 'sthree-' "
            f"or 'amzn-s3-demo-' (so '<prefix>-{longest}' is a valid bucket name)",
        )

    for zone, rules in lifecycle.items():
        prop = f"lifecycle[{zone!r}]"
        if not errors.require(
            zone in seen, "lifecycle", zone, f"a key naming one of the zones ({', '.join(seen)})"
        ):
            continue
        _validate_zone_lifecycle(errors, prop, rules)

    errors.require(
        isinstance(abort_days, int) and abort_days >= 1,
        "abort_incomplete_uploads_after_days",
        abort_days,
        "a whole number of days, at least 1",
    )
    errors.require(
        isinstance(access_log_retention_days, int) and access_log_retention_days >= 1,
        "access_log_retention_days",
        access_log_retention_days,
        "a whole number of days, at least 1",
    )
    errors.require(
        log_retention_days in LOG_RETENTION_DAYS,
        "log_retention_days",
        log_retention_days,
        LOG_RETENTION_ALLOWED,
    )
    if vpc_endpoint is None:
        errors.require(
            not exempt_arns,
            "endpoint_exempt_principal_arns",
            list(exempt_arns),
            "empty unless vpc_endpoint is given: without an endpoint nothing is restricted",
        )
        errors.require(
            not exempt_role_prefixes,
            "exempt_role_name_prefixes",
            list(exempt_role_prefixes),
            "empty unless vpc_endpoint is given: without an endpoint nothing is restricted",
        )
        errors.require(
            exempt_called_via is None,
            "exempt_called_via",
            exempt_called_via,
            "unset unless vpc_endpoint is given: without an endpoint nothing is restricted",
        )
    for arn in exempt_arns:
        why = exempt_arn_problem(arn)
        errors.require(why is None, "endpoint_exempt_principal_arns", arn, why or "")
    for service in exempt_called_via or ():
        errors.require(
            bool(_SERVICE_PRINCIPAL.fullmatch(service)),
            "exempt_called_via",
            service,
            "AWS service principals such as 'athena.amazonaws.com'",
        )
    for role_prefix in exempt_role_prefixes:
        errors.require(
            isinstance(role_prefix, str) and bool(_ROLE_PREFIX.match(role_prefix)),
            "exempt_role_name_prefixes",
            role_prefix,
            "IAM role name prefixes of 3-40 characters (letters, digits, +=,.@_-)",
        )
    errors.require(
        not (auto_delete_objects and removal_policy != cdk.RemovalPolicy.DESTROY),
        "auto_delete_objects",
        auto_delete_objects,
        f"False unless removal_policy is DESTROY (got {removal_policy}): emptying a bucket "
        "the stack retains would delete the data the retention is meant to keep",
    )
    errors.raise_if_any()


def exempt_arn_problem(arn: str) -> str | None:
    """Why ``arn`` may not be exempted from the VPC endpoint restriction, or ``None``.

    An exemption names IAM principals of one account (``aws:PrincipalArn``): a role or user
    ARN, where a wildcard may only follow a name prefix of at least 3 characters
    (``arn:aws:iam::111122223333:role/etl-*``). ``*``, a wildcard account, or a bare
    ``role/*`` would turn the restriction off for everyone, or for a whole account. Tokens
    (a role's ARN) are accepted: they name one principal.
    """
    text = _TOKEN.sub("TOKEN", arn) if isinstance(arn, str) else ""
    if text == "TOKEN":
        return None  # a reference, such as a role's ARN: one principal
    match = _EXEMPT_ARN.fullmatch(text)
    if match is None:
        return (
            "an IAM role or user ARN of one account, e.g. "
            "'arn:aws:iam::111122223333:role/etl-*' (a wildcard only after a name prefix of 3 "
            "or more characters): '*' or a wildcard account would exempt everyone"
        )
    name = match.group("name")
    first_wildcard = min((i for i in (name.find("*"), name.find("?")) if i >= 0), default=-1)
    if first_wildcard != -1 and len(name[:first_wildcard].rsplit("/", 1)[-1]) < 3:
        return (
            f"a {match.group('kind')} name, or a name prefix of 3 or more characters before any "
            f"wildcard (not {name!r}): too broad an exemption from the VPC endpoint restriction"
        )
    return None


def _validate_zone_lifecycle(errors: PropErrors, prop: str, rules: ZoneLifecycle) -> None:
    if not errors.require(isinstance(rules, ZoneLifecycle), prop, rules, "a ZoneLifecycle"):
        return
    fields = {
        "infrequent_access_after_days": rules.infrequent_access_after_days,
        "glacier_after_days": rules.glacier_after_days,
        "expire_after_days": rules.expire_after_days,
        "noncurrent_versions_expire_after_days": rules.noncurrent_versions_expire_after_days,
    }
    valid = True
    for field, value in fields.items():
        if value is not None:
            valid &= errors.require(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{prop}.{field}",
                value,
                "a whole number of days, at least 1, or None",
            )
    if not valid:
        return
    ia, glacier, expire = (
        rules.infrequent_access_after_days,
        rules.glacier_after_days,
        (rules.expire_after_days),
    )
    if ia is not None:
        errors.require(
            ia >= _S3_MIN_STANDARD_IA_DAYS,
            f"{prop}.infrequent_access_after_days",
            ia,
            f"at least {_S3_MIN_STANDARD_IA_DAYS} (S3's minimum before STANDARD_IA)",
        )
    if ia is not None and glacier is not None:
        errors.require(
            glacier >= ia + 30,
            f"{prop}.glacier_after_days",
            glacier,
            f"at least 30 days after infrequent_access_after_days ({ia}), i.e. >= {ia + 30}",
        )
    last_transition = max([d for d in (ia, glacier) if d is not None], default=None)
    if expire is not None and last_transition is not None:
        errors.require(
            expire > last_transition,
            f"{prop}.expire_after_days",
            expire,
            f"more than the last transition ({last_transition} days): lifecycle days in order",
        )

"""Pricing rules: resource types whose cost depends on their properties.

A rule reads one resource's properties (and, where a resource is billed through another,
the rest of its template) and returns a :class:`Pricing`: the class (a rule may refine the
type's class: a gateway VPC endpoint is free, an interface endpoint hourly), what it costs
a month while nothing runs, what it costs an hour while it runs, and how that was worked
out. Prices come from the price table only; a rule that finds no price says so
(``unpriced``) instead of guessing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ml_blueprints.cost.tables import CostClass, Price

#: Days in an average month (365.25 / 12), for schedules.
DAYS_PER_MONTH = 30.44
#: Minutes a scheduled Glue Spark run bills when there is nothing new to process: Glue 2.0
#: and later bill per second with a 1-minute minimum; starting Spark and checking the job
#: bookmark takes about two minutes (an estimate, not a price).
GLUE_IDLE_RUN_MINUTES = 2.0
#: DPUs per Glue worker type.
GLUE_WORKER_DPU = {"G.025X": 0.25, "G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8, "Z.2X": 2}


@dataclass
class Pricing:
    """What a rule found for one resource."""

    cost_class: CostClass
    idle_usd_month: float = 0.0
    run_usd_hour: float | None = None
    basis: str = ""
    prices: list[str] = field(default_factory=list)
    unpriced: bool = False


@dataclass(frozen=True)
class RuleContext:
    """What a rule may read besides the resource: its template's resources, the prices."""

    resources: Mapping[str, dict[str, Any]]
    prices: Mapping[str, Price]
    hours_per_month: float

    def price(self, key: str, used: list[str]) -> float | None:
        """The price ``key`` (recording its use in ``used``), or ``None`` when the table has
        none."""
        entry = self.prices.get(key)
        if entry is None:
            return None
        if key not in used:
            used.append(key)
        return entry.usd


Rule = Callable[[dict[str, Any], RuleContext], Pricing]


def literal(value: Any) -> Any:
    """``value`` when it is a plain literal, ``None`` when it is an intrinsic function."""
    if isinstance(value, dict) and any(str(k).startswith(("Fn::", "Ref")) for k in value):
        return None
    return value


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource.get("Properties") or {}
    return props if isinstance(props, dict) else {}


def _money(usd: float) -> str:
    """``$0.10``, ``$0.015``, ``$0.7364``, ``$1.408``, ``$32.85``: at least two decimals,
    more where the price has them."""
    text = f"{usd:,.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


# ----------------------------------------------------------------------------- always on


def kms_key(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    used: list[str] = []
    usd = ctx.price("kms_key_month", used)
    if usd is None:
        return Pricing(CostClass.HOURLY, unpriced=True, basis="no price for a KMS key")
    rotation = " (+$1/month after each of the first two yearly rotations)"
    rotates = literal(_props(resource).get("EnableKeyRotation")) is True
    return Pricing(
        CostClass.HOURLY,
        idle_usd_month=usd,
        basis=f"{_money(usd)} a month per key{rotation if rotates else ''}",
        prices=used,
    )


def cloudwatch_alarm(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    props = _props(resource)
    metrics = props.get("Metrics")
    periods: list[int] = []
    if isinstance(metrics, list) and metrics:
        stats = [m for m in metrics if isinstance(m, dict) and "MetricStat" in m]
        count = max(len(stats), 1)
        periods = [literal(m["MetricStat"].get("Period")) for m in stats]
        expressions = " ".join(str(m.get("Expression", "")) for m in metrics)
        if "ANOMALY_DETECTION_BAND" in expressions:
            count *= 3  # an anomaly detection alarm bills three metrics per metric
    else:
        count = 1
        periods = [literal(props.get("Period"))]
    high = any(isinstance(p, int) and p < 60 for p in periods)
    used: list[str] = []
    key = "cloudwatch_alarm_high_resolution_month" if high else "cloudwatch_alarm_month"
    usd = ctx.price(key, used)
    if usd is None:
        return Pricing(CostClass.HOURLY, unpriced=True, basis=f"no price {key}")
    kind = "high-resolution" if high else "standard"
    return Pricing(
        CostClass.HOURLY,
        idle_usd_month=count * usd,
        basis=f"{count} {kind} alarm metric{'s' if count > 1 else ''} x {_money(usd)} a month",
        prices=used,
    )


def secrets_manager_secret(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    used: list[str] = []
    usd = ctx.price("secrets_manager_secret_month", used)
    if usd is None:
        return Pricing(CostClass.HOURLY, unpriced=True, basis="no secret price")
    return Pricing(CostClass.HOURLY, usd, basis=f"{_money(usd)} a month per secret", prices=used)


def cloudwatch_composite_alarm(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    used: list[str] = []
    usd = ctx.price("cloudwatch_composite_alarm_month", used)
    if usd is None:
        return Pricing(CostClass.HOURLY, unpriced=True, basis="no composite alarm price")
    return Pricing(CostClass.HOURLY, usd, basis=f"{_money(usd)} a month", prices=used)


def kinesis_stream(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    props = _props(resource)
    mode = literal((props.get("StreamModeDetails") or {}).get("StreamMode")) or "PROVISIONED"
    used: list[str] = []
    hours = ctx.hours_per_month
    if mode == "ON_DEMAND":
        usd = ctx.price("kinesis_on_demand_stream_hour", used)
        if usd is None:
            return Pricing(CostClass.HOURLY, unpriced=True, basis="no on-demand stream price")
        return Pricing(
            CostClass.HOURLY,
            idle_usd_month=usd * hours,
            basis=f"on-demand: 1 stream x {_money(usd)}/stream-hour x {hours:g} h "
            "(+ per GB written and read)",
            prices=used,
        )
    shards = literal(props.get("ShardCount"))
    shards = shards if isinstance(shards, int) else 1
    usd = ctx.price("kinesis_shard_hour", used)
    if usd is None:
        return Pricing(CostClass.HOURLY, unpriced=True, basis="no shard-hour price")
    idle = shards * usd * hours
    basis = f"provisioned: {shards} shard{'s' if shards > 1 else ''} x {_money(usd)}/shard-hour"
    retention = literal(props.get("RetentionPeriodHours"))
    if isinstance(retention, int) and retention > 24:
        extra = ctx.price("kinesis_extended_retention_shard_hour", used)
        if extra is not None:
            idle += shards * extra * hours
            basis += f" + {_money(extra)}/shard-hour for {retention} h retention"
    return Pricing(
        CostClass.HOURLY,
        idle_usd_month=idle,
        basis=f"{basis} x {hours:g} h (+ per PUT payload unit)",
        prices=used,
    )


def vpc_endpoint(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    props = _props(resource)
    kind = literal(props.get("VpcEndpointType")) or "Gateway"
    if kind == "Gateway":
        return Pricing(CostClass.FREE, basis="gateway endpoint: no charge")
    if kind != "Interface":
        return Pricing(CostClass.HOURLY, unpriced=True, basis=f"{kind} endpoint: not priced")
    subnets = props.get("SubnetIds")
    known = isinstance(subnets, list)
    zones = len(subnets) if known else 2
    used: list[str] = []
    usd = ctx.price("interface_endpoint_az_hour", used)
    if usd is None:
        return Pricing(CostClass.HOURLY, unpriced=True, basis="no interface endpoint price")
    hours = ctx.hours_per_month
    assumed = "" if known else " (subnets unknown at synth: 2 assumed)"
    return Pricing(
        CostClass.HOURLY,
        idle_usd_month=zones * usd * hours,
        basis=f"interface: {zones} AZs x {_money(usd)}/AZ-hour x {hours:g} h{assumed}",
        prices=used,
    )


def _flat_hourly(key: str, what: str) -> Rule:
    def rule(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
        used: list[str] = []
        usd = ctx.price(key, used)
        if usd is None:
            return Pricing(CostClass.HOURLY, unpriced=True, basis=f"no price for {what}")
        hours = ctx.hours_per_month
        return Pricing(
            CostClass.HOURLY,
            idle_usd_month=usd * hours,
            basis=f"{what}: {_money(usd)}/hour x {hours:g} h",
            prices=used,
        )

    return rule


nat_gateway = _flat_hourly("nat_gateway_hour", "NAT gateway")
public_ipv4 = _flat_hourly("public_ipv4_hour", "public IPv4 address")


def ec2_instance(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    instance_type = literal(_props(resource).get("InstanceType")) or "m1.small"
    used: list[str] = []
    usd = ctx.price(f"ec2.{instance_type}", used)
    if usd is None:
        return Pricing(CostClass.HOURLY, unpriced=True, basis=f"no price for {instance_type}")
    hours = ctx.hours_per_month
    return Pricing(
        CostClass.HOURLY,
        idle_usd_month=usd * hours,
        basis=f"{instance_type}: {_money(usd)}/hour x {hours:g} h",
        prices=used,
    )


def sagemaker_endpoint(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    config_ref = _props(resource).get("EndpointConfigName")
    config_id = _referenced_id(config_ref)
    config = ctx.resources.get(config_id or "")
    if config is None:
        return Pricing(
            CostClass.HOURLY, unpriced=True, basis="endpoint configuration not in this template"
        )
    used: list[str] = []
    hourly = 0.0
    parts: list[str] = []
    for variant in _props(config).get("ProductionVariants") or []:
        if "ServerlessConfig" in variant:
            parts.append("a serverless variant (billed by usage)")
            continue
        instance_type = literal(variant.get("InstanceType"))
        count = literal(variant.get("InitialInstanceCount"))
        count = count if isinstance(count, int) else 1
        usd = ctx.price(f"sagemaker_hosting.{instance_type}", used)
        if usd is None:
            return Pricing(
                CostClass.HOURLY, unpriced=True, basis=f"no hosting price for {instance_type}"
            )
        hourly += count * usd
        parts.append(f"{count} x {instance_type} at {_money(usd)}/hour")
    if not hourly:
        return Pricing(CostClass.USAGE, basis="; ".join(parts) or "no instance variants")
    hours = ctx.hours_per_month
    return Pricing(
        CostClass.HOURLY,
        idle_usd_month=hourly * hours,
        basis=f"{', '.join(parts)} x {hours:g} h (the initial instance count, scaled up on load)",
        prices=used,
    )


def dynamodb_table(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    mode = literal(_props(resource).get("BillingMode")) or "PROVISIONED"
    if mode == "PAY_PER_REQUEST":
        return Pricing(CostClass.USAGE, basis="on-demand: per request and GB stored")
    return Pricing(
        CostClass.HOURLY,
        unpriced=True,
        basis="provisioned capacity is billed per capacity unit-hour: not in the price table",
    )


# ----------------------------------------------------------------------------- running


def glue_job(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    props = _props(resource)
    used: list[str] = []
    dpu_price = ctx.price("glue_dpu_hour", used)
    workers = literal(props.get("NumberOfWorkers"))
    worker_type = literal(props.get("WorkerType"))
    if isinstance(workers, int) and worker_type in GLUE_WORKER_DPU:
        dpus = workers * GLUE_WORKER_DPU[worker_type]
        size = f"{workers} x {worker_type} ({dpus:g} DPU)"
    else:
        capacity = literal(props.get("MaxCapacity"))
        command = literal((props.get("Command") or {}).get("Name"))
        dpus = (
            float(capacity)
            if isinstance(capacity, int | float)
            else (0.0625 if command == "pythonshell" else 10.0)
        )
        size = f"{dpus:g} DPU"
    if dpu_price is None:
        return Pricing(CostClass.RUNNING, unpriced=True, basis="no Glue DPU price")
    run = dpus * dpu_price
    basis = f"{size} x {_money(dpu_price)}/DPU-hour while it runs"
    pricing = Pricing(CostClass.RUNNING, run_usd_hour=run, basis=basis, prices=used)
    runs = _scheduled_runs(resource, props, ctx)
    if runs:
        minutes = GLUE_IDLE_RUN_MINUTES
        pricing.idle_usd_month = runs * run * minutes / 60
        pricing.basis += (
            f"; its schedule starts ~{runs:,.1f} runs a month, each ~{minutes:g} min when "
            "there is nothing new"
        )
    return pricing


def glue_crawler(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    props = _props(resource)
    used: list[str] = []
    dpu_price = ctx.price("glue_dpu_hour", used)
    if dpu_price is None:
        return Pricing(CostClass.RUNNING, unpriced=True, basis="no Glue DPU price")
    pricing = Pricing(
        CostClass.RUNNING,
        run_usd_hour=dpu_price,
        basis=f"{_money(dpu_price)} per DPU-hour it uses, 10-minute minimum per crawl",
        prices=used,
    )
    expression = literal((props.get("Schedule") or {}).get("ScheduleExpression"))
    runs = runs_per_month(expression) if isinstance(expression, str) else None
    if runs:
        pricing.idle_usd_month = runs * dpu_price * 10 / 60
        pricing.basis += f"; scheduled ~{runs:,.1f} crawls a month (at least 1 DPU each)"
    return pricing


def emr_cluster(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    instances = _props(resource).get("Instances") or {}
    used: list[str] = []
    hourly = 0.0
    parts: list[str] = []
    spot = False
    for key in ("MasterInstanceFleet", "CoreInstanceFleet", "TaskInstanceFleets"):
        fleets = instances.get(key)
        for fleet in fleets if isinstance(fleets, list) else [fleets] if fleets else []:
            units = sum(
                v
                for v in (
                    literal(fleet.get("TargetOnDemandCapacity")),
                    literal(fleet.get("TargetSpotCapacity")),
                )
                if isinstance(v, int)
            )
            spot = spot or bool(literal(fleet.get("TargetSpotCapacity")))
            best = _cheapest_unit(fleet.get("InstanceTypeConfigs") or [], ctx, used)
            if best is None:
                return Pricing(
                    CostClass.RUNNING,
                    unpriced=True,
                    basis=f"no price for any instance type of fleet {fleet.get('Name', key)}",
                )
            unit_price, instance_type = best
            hourly += units * unit_price
            parts.append(f"{fleet.get('Name', key)} {units} unit(s) of {instance_type}")
    for key in ("MasterInstanceGroup", "CoreInstanceGroup", "TaskInstanceGroups"):
        groups = instances.get(key)
        for group in groups if isinstance(groups, list) else [groups] if groups else []:
            count = literal(group.get("InstanceCount"))
            count = count if isinstance(count, int) else 1
            best = _cheapest_unit([{**group, "WeightedCapacity": 1}], ctx, used)
            if best is None:
                return Pricing(
                    CostClass.RUNNING,
                    unpriced=True,
                    basis=f"no price for {group.get('InstanceType')}",
                )
            hourly += count * best[0]
            parts.append(f"{group.get('Name', key)} {count} x {best[1]}")
    note = "; spot capacity at the on-demand rate (an upper bound)" if spot else ""
    return Pricing(
        CostClass.RUNNING,
        run_usd_hour=hourly,
        basis=f"{', '.join(parts)}: EC2 + EMR fee + EBS{note}",
        prices=used,
    )


def sagemaker_notebook(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    props = _props(resource)
    instance_type = literal(props.get("InstanceType"))
    used: list[str] = []
    usd = ctx.price(f"sagemaker_notebook.{instance_type}", used)
    if usd is None:
        return Pricing(
            CostClass.RUNNING, unpriced=True, basis=f"no notebook price for {instance_type}"
        )
    pricing = Pricing(
        CostClass.RUNNING,
        run_usd_hour=usd,
        basis=f"{instance_type}: {_money(usd)}/hour while in service",
        prices=used,
    )
    size = literal(props.get("VolumeSizeInGB"))
    size = size if isinstance(size, int) else 5
    storage = ctx.price("sagemaker_ml_storage_gb_month", used)
    if storage is not None:
        pricing.idle_usd_month = size * storage
        pricing.basis += f"; its {size} GB volume {_money(storage)}/GB-month, stopped or not"
    return pricing


def redshift_serverless_workgroup(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    base = literal(_props(resource).get("BaseCapacity"))
    base = base if isinstance(base, int) else 128
    used: list[str] = []
    usd = ctx.price("redshift_serverless_rpu_hour", used)
    if usd is None:
        return Pricing(CostClass.RUNNING, unpriced=True, basis="no RPU price")
    return Pricing(
        CostClass.RUNNING,
        run_usd_hour=base * usd,
        basis=f"{base} RPU base capacity x {_money(usd)}/RPU-hour while queries run "
        "(60-second minimum)",
        prices=used,
    )


def redshift_serverless_namespace(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    """A namespace's storage is usage; with ``ManageAdminPassword`` Redshift keeps the admin
    password in a Secrets Manager secret of its own (not in the template), billed monthly."""
    if literal(_props(resource).get("ManageAdminPassword")) is not True:
        return Pricing(CostClass.USAGE, basis="managed storage per GB-month")
    used: list[str] = []
    usd = ctx.price("secrets_manager_secret_month", used)
    if usd is None:
        return Pricing(CostClass.HOURLY, unpriced=True, basis="no secret price")
    return Pricing(
        CostClass.HOURLY,
        usd,
        basis=f"the admin secret Redshift keeps in Secrets Manager: {_money(usd)} a month; "
        "managed storage per GB-month on top",
        prices=used,
    )


def dms_replication_config(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    compute = _props(resource).get("ComputeConfig") or {}
    low = literal(compute.get("MinCapacityUnits"))
    high = literal(compute.get("MaxCapacityUnits"))
    used: list[str] = []
    usd = ctx.price("dms_serverless_dcu_hour", used)
    if usd is None or not isinstance(high, int):
        return Pricing(CostClass.RUNNING, unpriced=True, basis="no DCU price or capacity")
    low = low if isinstance(low, int) else 1
    standby = 2 if literal(compute.get("MultiAZ")) is True else 1
    return Pricing(
        CostClass.RUNNING,
        run_usd_hour=low * usd * standby,
        basis=f"{low} to {high} DCU x {_money(usd)}/DCU-hour while it replicates (up to "
        f"{_money(high * usd * standby)}/hour at {high} DCU"
        + (", Multi-AZ doubles it" if standby == 2 else "")
        + "); nothing until started, and billed 48 hours more after it stops",
        prices=used,
    )


def batch_job_definition(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    props = _props(resource)
    platforms = literal(props.get("PlatformCapabilities")) or ["EC2"]
    if "FARGATE" not in platforms:
        return Pricing(
            CostClass.RUNNING, unpriced=True, basis="EC2 jobs are billed through their instances"
        )
    container = props.get("ContainerProperties") or {}
    needs = {
        r.get("Type"): literal(r.get("Value"))
        for r in container.get("ResourceRequirements") or []
        if isinstance(r, dict)
    }
    try:
        vcpus = float(needs.get("VCPU"))  # type: ignore[arg-type]
        memory_gb = float(needs.get("MEMORY")) / 1024  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Pricing(CostClass.RUNNING, unpriced=True, basis="vCPU or memory not literal")
    storage = literal((container.get("EphemeralStorage") or {}).get("SizeInGiB"))
    extra_storage = max((storage if isinstance(storage, int) else 20) - 20, 0)
    used: list[str] = []
    cpu_usd = ctx.price("fargate_vcpu_hour", used)
    gb_usd = ctx.price("fargate_gb_hour", used)
    disk_usd = ctx.price("fargate_ephemeral_gb_hour", used) if extra_storage else 0.0
    if cpu_usd is None or gb_usd is None or disk_usd is None:
        return Pricing(CostClass.RUNNING, unpriced=True, basis="no Fargate price")
    run = vcpus * cpu_usd + memory_gb * gb_usd + extra_storage * disk_usd
    return Pricing(
        CostClass.RUNNING,
        run_usd_hour=run,
        basis=f"Fargate {vcpus:g} vCPU x {_money(cpu_usd)} + {memory_gb:g} GB x "
        f"{_money(gb_usd)}"
        + (f" + {extra_storage} GB storage x {_money(disk_usd)}" if extra_storage else "")
        + " per hour while a job runs",
        prices=used,
    )


# ----------------------------------------------------------------------------- usage, free


def cloudtrail_trail(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    used: list[str] = []
    data = ctx.price("cloudtrail_data_events_100k", used)
    second = ctx.price("cloudtrail_management_copy_100k", used)
    selectors = _props(resource).get("EventSelectors") or []
    advanced = _props(resource).get("AdvancedEventSelectors") or []
    data_resources = sum(
        len(r.get("Values") or [])
        for s in selectors
        if isinstance(s, dict)
        for r in s.get("DataResources") or []
    ) + len(advanced)
    basis = "first copy of management events free"
    if second is not None:
        basis += f" (a second trail's copy {_money(second)} per 100,000)"
    if data_resources and data is not None:
        basis += f"; data events on {data_resources} resource(s) {_money(data)} per 100,000"
    return Pricing(CostClass.USAGE, basis=basis + "; S3 and CloudWatch Logs by usage", prices=used)


def budget(resource: dict[str, Any], ctx: RuleContext) -> Pricing:
    used: list[str] = []
    usd = ctx.price("budget_day", used)
    extra = f"; {_money(usd)} a day each beyond that" if usd is not None else ""
    return Pricing(
        CostClass.FREE, basis=f"the payer account's first two budgets are free{extra}", prices=used
    )


RULES: dict[str, Rule] = {
    "kms_key": kms_key,
    "cloudwatch_alarm": cloudwatch_alarm,
    "cloudwatch_composite_alarm": cloudwatch_composite_alarm,
    "secrets_manager_secret": secrets_manager_secret,
    "kinesis_stream": kinesis_stream,
    "vpc_endpoint": vpc_endpoint,
    "nat_gateway": nat_gateway,
    "public_ipv4": public_ipv4,
    "ec2_instance": ec2_instance,
    "sagemaker_endpoint": sagemaker_endpoint,
    "dynamodb_table": dynamodb_table,
    "glue_job": glue_job,
    "glue_crawler": glue_crawler,
    "emr_cluster": emr_cluster,
    "sagemaker_notebook": sagemaker_notebook,
    "redshift_serverless_workgroup": redshift_serverless_workgroup,
    "redshift_serverless_namespace": redshift_serverless_namespace,
    "dms_replication_config": dms_replication_config,
    "batch_job_definition": batch_job_definition,
    "cloudtrail_trail": cloudtrail_trail,
    "budget": budget,
}


# ----------------------------------------------------------------------------- helpers


def _referenced_id(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points to."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        attr = value.get("Fn::GetAtt")
        if isinstance(attr, list) and attr:
            return str(attr[0])
        if isinstance(attr, str):
            return attr.split(".", 1)[0]
    return None


def _cheapest_unit(
    configs: list[dict[str, Any]], ctx: RuleContext, used: list[str]
) -> tuple[float, str] | None:
    """The lowest price per capacity unit among the priced instance types of a fleet."""
    best: tuple[float, str] | None = None
    chosen: list[str] = []
    for config in configs:
        instance_type = literal(config.get("InstanceType"))
        weight = literal(config.get("WeightedCapacity"))
        weight = weight if isinstance(weight, int) and weight > 0 else 1
        probe: list[str] = []
        ec2 = ctx.price(f"ec2.{instance_type}", probe)
        fee = ctx.price(f"emr.{instance_type}", probe)
        if ec2 is None or fee is None:
            continue
        ebs_hour = _ebs_hourly(config.get("EbsConfiguration") or {}, ctx, probe)
        if ebs_hour is None:
            continue
        unit = (ec2 + fee + ebs_hour) / weight
        if best is None or unit < best[0]:
            best = (unit, str(instance_type))
            chosen = probe
    used.extend(k for k in chosen if k not in used)
    return best


def _ebs_hourly(ebs: dict[str, Any], ctx: RuleContext, used: list[str]) -> float | None:
    total = 0.0
    for device in ebs.get("EbsBlockDeviceConfigs") or []:
        spec = device.get("VolumeSpecification") or {}
        size = literal(spec.get("SizeInGB"))
        volumes = literal(device.get("VolumesPerInstance"))
        volumes = volumes if isinstance(volumes, int) else 1
        kind = literal(spec.get("VolumeType"))
        usd = ctx.price(f"ebs_{kind}_gb_month", used)
        if usd is None or not isinstance(size, int):
            return None
        total += volumes * size * usd / ctx.hours_per_month
    return total


def _scheduled_runs(job: dict[str, Any], props: dict[str, Any], ctx: RuleContext) -> float:
    """Runs a month that SCHEDULED Glue triggers in the same template start for ``job``."""
    job_name = literal(props.get("Name"))
    job_id = next((k for k, v in ctx.resources.items() if v is job), None)
    runs = 0.0
    for resource in ctx.resources.values():
        if resource.get("Type") != "AWS::Glue::Trigger":
            continue
        trigger = _props(resource)
        if literal(trigger.get("Type")) != "SCHEDULED":
            continue
        targets = [a.get("JobName") for a in trigger.get("Actions") or []]
        if not any(
            (job_name is not None and t == job_name) or _referenced_id(t) == job_id for t in targets
        ):
            continue
        expression = literal(trigger.get("Schedule"))
        if isinstance(expression, str):
            runs += runs_per_month(expression) or 0.0
    return runs


def runs_per_month(expression: str) -> float | None:
    """About how many times a month an AWS ``cron(...)`` or ``rate(...)`` schedule fires."""
    text = expression.strip()
    rate = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", text)
    if rate:
        every = int(rate.group(1)) * {"m": 1, "h": 60, "d": 1440}[rate.group(2)[0]]
        return DAYS_PER_MONTH * 1440 / every if every else None
    cron = re.fullmatch(r"cron\((.+)\)", text)
    if not cron:
        return None
    fields = cron.group(1).split()
    if len(fields) != 6:
        return None
    minutes, hours, dom, month, dow, _year = fields
    per_day = _count(minutes, 0, 59) * _count(hours, 0, 23)
    if dom not in ("*", "?"):
        days = float(_count(dom, 1, 31))
    elif dow not in ("*", "?"):
        days = _count(dow, 1, 7) * DAYS_PER_MONTH / 7
    else:
        days = DAYS_PER_MONTH
    return per_day * days * _count(month, 1, 12) / 12


_NAMES = {
    name: number
    for names in (
        ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    )
    for number, name in enumerate(names, start=1)
}


def _count(spec: str, low: int, high: int) -> int:
    """How many values a cron field matches (``*``, lists, ranges, steps, names)."""
    spec = re.sub(r"[A-Z]{3}", lambda m: str(_NAMES.get(m.group(0), m.group(0))), spec.upper())
    total = 0
    for part in spec.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base and all(x.isdigit() for x in base.split("-", 1)):
            first, last = (int(x) for x in base.split("-", 1))
        elif base.isdigit():
            first, last = int(base), (high if step else int(base))
        else:
            total += 1  # names, L, W, #: one value
            continue
        span = max(last - first + 1, 0)
        total += math.ceil(span / int(step)) if step.isdigit() and int(step) else span
    return max(total, 1)

"""``AWS::DynamoDB::GlobalTable`` (what CDK's ``TableV2`` synthesizes): MiniStack's handler,
completed with the settings it drops.

MiniStack 1.5.33 creates the table from the key schema, attributes, billing mode and indexes,
ignores ``Replicas`` altogether (so the replica's customer-managed key, point-in-time
recovery, deletion protection and tags) and ``TimeToLiveSpecification``, and deletes the
table without looking at deletion protection. Its update derives a table's generated name
from the physical id instead of the logical id, so any update of a table without
``TableName`` replaced it with a new, empty one; this updates through MiniStack's
``AWS::DynamoDB::Table`` update with the logical id, as its Table handler does, in place.

After the create and the update this applies, for the replica in the stack's region, through
MiniStack's DynamoDB API: ``UpdateTable`` (``SSESpecification`` with the replica's
``KMSMasterKeyId``, ``DeletionProtectionEnabled``), ``UpdateTimeToLive``,
``UpdateContinuousBackups`` and ``TagResource``/``UntagResource``; and it deletes with
``DeleteTable``, which refuses a protected table as DynamoDB does. Not modelled:
``RecoveryPeriodInDays`` (MiniStack keeps PITR as on or off) and replicas in other regions.
"""

from __future__ import annotations

from ministack.core.responses import get_region
from ministack.services import dynamodb
from ministack.services.cloudformation import provisioners

from emulator.extras import Handler, call

GLOBAL_TABLE = "AWS::DynamoDB::GlobalTable"
#: GlobalTable properties a Table does not have (MiniStack's own create drops the same).
_GLOBAL_ONLY = (
    "Replicas",
    "MultiRegionConsistency",
    "GlobalTableWitnesses",
    "GlobalTableSourceArn",
    "WarmThroughput",
    "WriteOnDemandThroughputSettings",
    "ReadOnDemandThroughputSettings",
    "WriteProvisionedThroughputSettings",
    "ReadProvisionedThroughputSettings",
)


def _replica(props: dict) -> dict:
    """The stack region's replica (CloudFormation requires one)."""
    replicas = props.get("Replicas") or []
    here = [r for r in replicas if r.get("Region") == get_region()]
    if not here:
        raise ValueError(f"{GLOBAL_TABLE}: no replica in the stack's region {get_region()}")
    return here[0]


def _apply(name: str, old: dict, new: dict) -> None:
    replica, before = _replica(new), (_replica(old) if old else {})
    sse = new.get("SSESpecification") or {}
    encryption: dict = {"Enabled": bool(sse.get("SSEEnabled"))}
    if encryption["Enabled"]:
        encryption["SSEType"] = sse.get("SSEType", "KMS")
        key = (replica.get("SSESpecification") or {}).get("KMSMasterKeyId")
        if key:
            encryption["KMSMasterKeyId"] = key
    request = {
        "TableName": name,
        "SSESpecification": encryption,
        "DeletionProtectionEnabled": bool(replica.get("DeletionProtectionEnabled", False)),
    }
    call(dynamodb._update_table, request, f"{GLOBAL_TABLE} encryption, deletion protection")
    ttl = new.get("TimeToLiveSpecification") or (old or {}).get("TimeToLiveSpecification")
    if ttl:
        enabled = bool((new.get("TimeToLiveSpecification") or {}).get("Enabled"))
        spec = {"Enabled": enabled, "AttributeName": ttl["AttributeName"]}
        request = {"TableName": name, "TimeToLiveSpecification": spec}
        call(dynamodb._update_ttl, request, f"{GLOBAL_TABLE} TimeToLiveSpecification")
    recovery = replica.get("PointInTimeRecoverySpecification") or {}
    spec = {"PointInTimeRecoveryEnabled": bool(recovery.get("PointInTimeRecoveryEnabled"))}
    request = {"TableName": name, "PointInTimeRecoverySpecification": spec}
    call(dynamodb._update_continuous_backups, request, f"{GLOBAL_TABLE} point-in-time recovery")
    arn = dynamodb._tables[name]["TableArn"]
    kept = {tag["Key"] for tag in replica.get("Tags") or []}
    gone = sorted({tag["Key"] for tag in before.get("Tags") or []} - kept)
    if gone:
        call(dynamodb._untag_resource, {"ResourceArn": arn, "TagKeys": gone}, "untag")
    if replica.get("Tags"):
        request = {"ResourceArn": arn, "Tags": replica["Tags"]}
        call(dynamodb._tag_resource, request, f"{GLOBAL_TABLE} replica tags")


def _delete(physical_id: str, props: dict) -> None:
    if physical_id in dynamodb._tables:
        call(dynamodb._delete_table, {"TableName": physical_id}, f"{GLOBAL_TABLE} delete")


def complete(handler: Handler) -> Handler:
    """MiniStack's GlobalTable handler, then the settings it drops; delete through the API."""
    create = handler["create"]

    def create_complete(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
        name, attributes = create(logical_id, props, stack_name)
        try:
            _apply(name, {}, props)
        except ValueError:
            dynamodb._tables.pop(name, None)  # a create that fails leaves nothing behind
            raise
        return name, attributes

    def update_complete(
        physical_id: str, old: dict, new: dict, stack_name: str, logical_id: str | None = None
    ) -> tuple[str, dict]:
        as_table = [{k: v for k, v in p.items() if k not in _GLOBAL_ONLY} for p in (old, new)]
        name, attributes = provisioners._ddb_update(physical_id, *as_table, stack_name, logical_id)
        _apply(name, old if name == physical_id else {}, new)
        return name, attributes

    return {
        **handler,
        "create": create_complete,
        "update": update_complete,
        "update_with_logical_id": True,
        "delete": _delete,
    }


WRAPPERS = {GLOBAL_TABLE: complete}

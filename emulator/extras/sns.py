"""``AWS::SNS::Topic``: MiniStack's handler, then the topic's ``KmsMasterKeyId``.

MiniStack 1.5.33 creates the topic without the template's ``KmsMasterKeyId`` (the key that
encrypts its messages at rest); this sets it with MiniStack's ``SetTopicAttributes`` after
each create and update (an empty value when the template drops it, as the API disables
encryption), so ``GetTopicAttributes`` answers what the template asked for.
"""

from __future__ import annotations

from ministack.services import sns

from emulator.extras import Handler, call

TOPIC = "AWS::SNS::Topic"


def _apply_key(arn: str, old: dict, new: dict) -> None:
    key = new.get("KmsMasterKeyId") or ""
    if key or old.get("KmsMasterKeyId"):
        request = {
            "TopicArn": [arn],
            "AttributeName": ["KmsMasterKeyId"],
            "AttributeValue": [key],
        }
        call(sns._set_topic_attributes, request, f"{TOPIC} KmsMasterKeyId")


def complete(handler: Handler) -> Handler:
    """MiniStack's topic handler, then ``SetTopicAttributes`` for the key."""
    create, update = handler["create"], handler["update"]

    def create_encrypted(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
        arn, attributes = create(logical_id, props, stack_name)
        _apply_key(arn, {}, props)
        return arn, attributes

    def update_encrypted(physical_id: str, old: dict, new: dict, *args: str | None):
        arn, attributes = update(physical_id, old, new, *args)
        _apply_key(arn, old if arn == physical_id else {}, new)
        return arn, attributes

    return {**handler, "create": create_encrypted, "update": update_encrypted}


WRAPPERS = {TOPIC: complete}

"""Tags on every resource, including the ones CDK creates as plain ``CfnResource``.

``Tags.of(scope).add`` reaches every taggable L1 construct. CDK's singleton custom resource
providers (bucket auto-delete, default security group restriction) are written as plain
``CfnResource`` objects, which the tag aspect skips, so their role and function would go
untagged; an aspect adds the tags to those directly.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
import jsii
from constructs import IConstruct

#: Resource types CDK creates as plain CfnResource that CloudFormation can tag.
_PLAIN_TAGGABLE_TYPES = frozenset({"AWS::IAM::Role", "AWS::Lambda::Function"})


@jsii.implements(cdk.IAspect)
class _TagPlainCfnResources:
    def __init__(self, tags: Mapping[str, str]) -> None:
        self._tags = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]

    def visit(self, node: IConstruct) -> None:
        if type(node) is cdk.CfnResource and node.cfn_resource_type in _PLAIN_TAGGABLE_TYPES:
            node.add_property_override("Tags", self._tags)


def tag_everything(scope: IConstruct, tags: Mapping[str, str]) -> None:
    """Tag every resource under ``scope`` with ``tags``."""
    for key, value in tags.items():
        cdk.Tags.of(scope).add(key, value)
    cdk.Aspects.of(scope).add(_TagPlainCfnResources(tags))

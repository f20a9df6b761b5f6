"""``ml-blueprints diagram``: the architecture of a synthesized app, drawn from ``cdk.out``.

One node per meaningful resource (streams, delivery streams, functions, buckets, databases,
crawlers, jobs, state machines, clusters, notebooks, endpoints, keys, topics, trails,
budgets, the network), grouped by stack; IAM roles and policies, security group rules,
route tables, log groups and CDK's own helper functions are left out, and a stack's alarms
become one node. Edges follow the data: a stream feeds its delivery stream, which writes to
a bucket; a crawler reads a bucket and fills a database; a state machine starts jobs,
crawlers and training; a trail records data events of buckets. References across stacks
(``Fn::ImportValue``, ``Fn::GetStackOutput``) are followed to the resource they name.

The output is Mermaid (GitHub renders it, nothing to install); with Graphviz's ``dot`` on
the PATH the same graph is also rendered to SVG or PNG.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_blueprints.assembly import StackTemplate, read_stacks

FORMATS: tuple[str, ...] = ("mermaid", "dot", "svg", "png")

#: Resource types drawn, with the words under each node and whether it is a store (drawn as
#: a cylinder). Anything else is left out.
NODE_TYPES: dict[str, tuple[str, bool]] = {
    "AWS::Kinesis::Stream": ("Kinesis stream", True),
    "AWS::KinesisFirehose::DeliveryStream": ("Firehose delivery stream", False),
    "AWS::Lambda::Function": ("Lambda function", False),
    "AWS::S3::Bucket": ("S3 bucket", True),
    "AWS::Glue::Database": ("Glue database", True),
    "AWS::Glue::Table": ("Glue table", True),
    "AWS::Glue::Crawler": ("Glue crawler", False),
    "AWS::Glue::Job": ("Glue Spark job", False),
    "AWS::Glue::Trigger": ("Glue schedule", False),
    "AWS::Athena::WorkGroup": ("Athena workgroup", False),
    "AWS::StepFunctions::StateMachine": ("Step Functions state machine", False),
    "AWS::EMR::Cluster": ("EMR cluster", False),
    "AWS::SageMaker::NotebookInstance": ("SageMaker notebook", False),
    "AWS::SageMaker::Endpoint": ("SageMaker endpoint", False),
    "AWS::SageMaker::Model": ("SageMaker model", False),
    "AWS::KMS::Key": ("KMS key", False),
    "AWS::SNS::Topic": ("SNS topic", False),
    "AWS::CloudTrail::Trail": ("CloudTrail trail", False),
    "AWS::Budgets::Budget": ("cost budget", False),
    "AWS::EC2::VPC": ("VPC", False),
    "AWS::EC2::VPCEndpoint": ("VPC endpoint", False),
    "AWS::EC2::NatGateway": ("NAT gateway", False),
    "AWS::DynamoDB::Table": ("DynamoDB table", True),
    "AWS::DynamoDB::GlobalTable": ("DynamoDB table", True),
    "AWS::RedshiftServerless::Workgroup": ("Redshift Serverless", False),
    "AWS::EC2::Instance": ("EC2 instance", False),
    "AWS::IoT::TopicRule": ("IoT topic rule", False),
    "AWS::DMS::ReplicationConfig": ("DMS Serverless replication", False),
    "AWS::Batch::JobDefinition": ("Batch job (Fargate)", False),
    "AWS::Scheduler::Schedule": ("EventBridge schedule", False),
    "AWS::DataSync::Task": ("DataSync task", False),
}
ALARM = "AWS::CloudWatch::Alarm"
_TABLES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")

#: Property paths (substrings, lower case) that say data flows *into* the resource holding
#: them (source -> holder) or *out of* it (holder -> target).
_INPUT_HINTS = ("input", "source", "targets", "s3targets", "modeldataurl", "kinesisstream")
_OUTPUT_HINTS = (
    "output",
    "destination",
    "quarantine",
    "bucketarn",
    "logging",
    "loguri",
    "capture",
    "s3bucketname",
    "datacapture",
    "resultconfiguration",
)
#: Property paths that are configuration, not data flow (encryption, roles, networking).
_IGNORED_HINTS = (
    "kmskey",
    "kmsmasterkey",
    "keyid",
    "encryption",
    "role",
    "securitygroup",
    "subnet",
    "vpcid",
    "vpcconfig",
    "tags",
    "cloudwatchloggingoptions",
    "securityconfiguration",
    "lifecycleconfig",
    "dependson",
    "policy",
    "ec2subnetids",
    "additional",
    "serviceaccess",
    "routetable",
)


class DiagramError(Exception):
    """Something the user must fix (a missing tool, a bad format): one line."""


@dataclass(frozen=True)
class Node:
    """A drawn resource."""

    node_id: str
    stack: str
    logical_id: str
    label: str
    kind: str
    store: bool


@dataclass(frozen=True)
class Edge:
    """Data flowing from one node to another (``label`` says how, when known)."""

    source: str
    target: str
    label: str = ""


@dataclass
class Graph:
    """Nodes grouped by stack, and the edges between them."""

    stacks: list[str] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[Edge] = field(default_factory=set)

    def in_stack(self, stack: str) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.stack == stack), key=lambda n: n.node_id)


def build_graph(stacks: list[StackTemplate]) -> Graph:
    """The graph of ``stacks`` (see the module docstring for what is drawn)."""
    graph = Graph(stacks=[s.name for s in stacks])
    resolver = _Resolver(stacks)
    for stack in stacks:
        alarms = [k for k, r in stack.resources.items() if r.get("Type") == ALARM]
        for logical_id, resource in stack.resources.items():
            kind = str(resource.get("Type"))
            if kind not in NODE_TYPES or _is_cdk_helper(logical_id, resource):
                continue
            words, store = NODE_TYPES[kind]
            node_id = _node_id(stack.name, logical_id)
            label = f"{_readable(logical_id)}<br/>{words}"
            graph.nodes[node_id] = Node(node_id, stack.name, logical_id, label, kind, store)
        if alarms:
            node_id = _node_id(stack.name, "Alarms")
            count = len(alarms)
            label = f"{count} CloudWatch alarm{'s' if count > 1 else ''}"
            graph.nodes[node_id] = Node(node_id, stack.name, "Alarms", label, ALARM, False)
    for stack in stacks:
        for logical_id, resource in stack.resources.items():
            kind = resource.get("Type")
            holder = _holder(stack, logical_id, resource)
            source = _node_id(stack.name, "Alarms" if kind == ALARM else holder)
            if source not in graph.nodes:
                continue
            # A state machine that exports a DynamoDB table reads it (table -> machine).
            exports = kind == "AWS::StepFunctions::StateMachine" and (
                ":dynamodb:exportTableToPointInTime" in json.dumps(resource)
            )
            for path, target in resolver.references(stack, resource):
                if kind == "AWS::EMR::Step" and "jobflowid" in path.lower():
                    continue
                target_id = _node_id(target[0], target[1])
                if target_id not in graph.nodes or target_id == source:
                    continue
                edge = _edge(graph, source, target_id, path)
                if exports and graph.nodes[target_id].kind in _TABLES:
                    edge = Edge(target_id, source, "exports")
                if edge is not None:
                    graph.edges.add(edge)
    return graph


def _holder(stack: StackTemplate, logical_id: str, resource: dict[str, Any]) -> str:
    """The node a resource's references belong to: itself, or for the parts that are not
    drawn, what they configure: an EMR step's cluster, an endpoint configuration's
    endpoint (so the endpoint is drawn with its model and data capture)."""
    props = resource.get("Properties") or {}
    kind = resource.get("Type")
    if kind == "AWS::EMR::Step":
        return _referenced_id(props.get("JobFlowId")) or logical_id
    if kind in ("AWS::DMS::Endpoint", "AWS::DataSync::LocationS3"):
        # Drawn with what uses them: a replication its endpoints, a task its destination.
        for other_id, other in stack.resources.items():
            other_props = json.dumps(other.get("Properties") or {})
            if other.get("Type") in ("AWS::DMS::ReplicationConfig", "AWS::DataSync::Task") and (
                f'{{"Ref": "{logical_id}"}}' in other_props
            ):
                return other_id
    if kind == "AWS::SageMaker::EndpointConfig":
        for other_id, other in stack.resources.items():
            name = (other.get("Properties") or {}).get("EndpointConfigName")
            if other.get("Type") == "AWS::SageMaker::Endpoint" and (
                _referenced_id(name) == logical_id
            ):
                return other_id
    return logical_id


#: Kinds a state machine or schedule starts (rather than reads or writes).
_STARTABLE = (
    "AWS::Batch::JobDefinition",
    "AWS::Glue::Job",
    "AWS::Glue::Crawler",
    "AWS::StepFunctions::StateMachine",
    "AWS::EMR::Cluster",
    "AWS::Lambda::Function",
    "AWS::SageMaker::Endpoint",
)


def _edge(graph: Graph, holder: str, referenced: str, path: str) -> Edge | None:
    """The edge for a reference from ``holder`` to ``referenced`` found at ``path``, or
    ``None`` when the reference is configuration rather than data flow."""
    lower = path.lower()
    holder_kind = graph.nodes[holder].kind
    referenced_kind = graph.nodes[referenced].kind
    if holder_kind == ALARM:  # alarms watch resources; they only send to their topic
        notifies = referenced_kind == "AWS::SNS::Topic"
        return Edge(holder, referenced, "notifies") if notifies else None
    if holder_kind == "AWS::EC2::VPCEndpoint" and referenced_kind == "AWS::EC2::VPC":
        return Edge(referenced, holder, "")
    if referenced_kind == "AWS::KMS::Key" or any(h in lower for h in _IGNORED_HINTS):
        return None
    if holder_kind == "AWS::CloudTrail::Trail":
        if "dataresources" in lower:
            return Edge(referenced, holder, "data events")
        return Edge(holder, referenced, "logs")
    if referenced_kind == "AWS::SNS::Topic":
        return Edge(holder, referenced, "notifies")
    if holder_kind == "AWS::Glue::Crawler" and referenced_kind == "AWS::Glue::Database":
        return Edge(holder, referenced, "tables")
    if referenced_kind == "AWS::Lambda::Function":
        kind = "transform" if holder_kind == "AWS::KinesisFirehose::DeliveryStream" else "invokes"
        return Edge(holder, referenced, kind)
    if holder_kind in (
        "AWS::StepFunctions::StateMachine",
        "AWS::Glue::Trigger",
        "AWS::Scheduler::Schedule",
    ) and (referenced_kind in _STARTABLE):
        return Edge(holder, referenced, "starts")
    if "logging" in lower:
        return Edge(holder, referenced, "access logs")
    if referenced_kind == "AWS::SageMaker::Model":
        return Edge(holder, referenced, "serves")
    if any(h in lower for h in _INPUT_HINTS):
        return Edge(referenced, holder, "")
    return Edge(holder, referenced, "")


class _Resolver:
    """Finds the resources a resource references, in its stack and across stacks."""

    def __init__(self, stacks: list[StackTemplate]) -> None:
        self._stacks = {s.name: s for s in stacks}
        self._exports: dict[str, tuple[str, str]] = {}
        self._outputs: dict[tuple[str, str], tuple[str, str]] = {}
        self._names: dict[str, tuple[str, str]] = {}
        by_stack_name: dict[str, str] = {}
        for stack in stacks:
            by_stack_name[stack.stack_name or stack.name] = stack.name
            for output_name, output in (stack.template.get("Outputs") or {}).items():
                target = _referenced_id(output.get("Value"))
                if target is None or target not in stack.resources:
                    continue
                self._outputs[(stack.name, output_name)] = (stack.name, target)
                export = (output.get("Export") or {}).get("Name")
                if isinstance(export, str):
                    self._exports[export] = (stack.name, target)
            for logical_id, resource in stack.resources.items():
                for name in _physical_names(resource):
                    self._names.setdefault(name, (stack.name, logical_id))
        self._by_stack_name = by_stack_name

    def references(
        self, stack: StackTemplate, resource: dict[str, Any]
    ) -> Iterator[tuple[str, tuple[str, str]]]:
        """``(property path, (stack, logical id))`` for every resource ``resource`` names."""
        props = resource.get("Properties") or {}
        for path, value in _walk(props, ""):
            target = self._target(stack, value)
            if target is not None:
                yield path, target
            elif isinstance(value, str):
                for name, found in self._names.items():
                    # The whole value, or a quoted JSON string inside it (a state machine
                    # definition names its jobs and crawlers): never a mere substring.
                    if value == name or f'"{name}"' in value:
                        yield path, found

    def _target(self, stack: StackTemplate, value: Any) -> tuple[str, str] | None:
        if not isinstance(value, dict) or len(value) != 1:
            return None
        local = _referenced_id(value)
        if local is not None and local in stack.resources:
            return (stack.name, local)
        imported = value.get("Fn::ImportValue")
        if isinstance(imported, str):
            return self._exports.get(imported)
        output = value.get("Fn::GetStackOutput")
        if isinstance(output, dict):
            producer = self._by_stack_name.get(str(output.get("StackName")))
            if producer is not None:
                return self._outputs.get((producer, str(output.get("OutputName"))))
            for (_producer, output_name), found in self._outputs.items():
                if output_name == output.get("OutputName"):
                    return found
        return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every sub-value of ``value`` with its property path; intrinsic functions are
    yielded whole and also walked (a ``Fn::Join`` holds references)."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            yield path, value
            key = next(iter(value))
            if key not in ("Ref", "Fn::GetAtt", "Fn::ImportValue", "Fn::GetStackOutput"):
                yield from _walk(value[key], path)
            return
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        previous = ""
        for item in value:
            # An argument list names a path after its flag: ["--input-path", "s3://..."].
            yield from _walk(item, f"{path}[{previous}]" if previous else path)
            previous = item if isinstance(item, str) and item.startswith("--") else ""
    elif isinstance(value, str):
        yield path, value


def _referenced_id(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        attr = value.get("Fn::GetAtt")
        if isinstance(attr, list) and attr:
            return str(attr[0])
    return None


def _physical_names(resource: dict[str, Any]) -> list[str]:
    """Literal names a resource is referred to by in strings (a job's or crawler's name in
    a state machine definition, a database's name in a crawler)."""
    props = resource.get("Properties") or {}
    names = [props.get("Name"), (props.get("DatabaseInput") or {}).get("Name")]
    return [n for n in names if isinstance(n, str)]


def _is_cdk_helper(logical_id: str, resource: dict[str, Any]) -> bool:
    """CDK's own custom-resource provider functions (bucket emptying, default SG rules)."""
    path = str((resource.get("Metadata") or {}).get("aws:cdk:path", ""))
    return "CustomResourceProvider" in logical_id or "CustomResourceProvider" in path


def _node_id(stack: str, logical_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{stack}__{logical_id}")


def _readable(logical_id: str) -> str:
    """``LakeRawBucket`` from ``LakeRawBucketDA76DCB0``: the construct path CDK made the
    logical id from, without its hash (the same with or without path metadata)."""
    return re.sub(r"[0-9A-F]{8}$", "", logical_id) or logical_id


# ----------------------------------------------------------------------------- output


def mermaid(graph: Graph) -> str:
    """The graph as a Mermaid flowchart, one subgraph per stack."""
    lines = ["flowchart LR"]
    for stack in graph.stacks:
        nodes = graph.in_stack(stack)
        if not nodes:
            continue
        lines.append(f'  subgraph {_node_id(stack, "")}["{stack}"]')
        for node in nodes:
            label = node.label.replace('"', "'")
            shape = f'[("{label}")]' if node.store else f'["{label}"]'
            lines.append(f"    {node.node_id}{shape}")
        lines.append("  end")
    for edge in sorted(graph.edges, key=lambda e: (e.source, e.target, e.label)):
        arrow = f" -->|{edge.label}| " if edge.label else " --> "
        lines.append(f"  {edge.source}{arrow}{edge.target}")
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    """The graph in Graphviz's DOT language, one cluster per stack."""
    lines = ["digraph architecture {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    for index, stack in enumerate(graph.stacks):
        nodes = graph.in_stack(stack)
        if not nodes:
            continue
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f"    label={json.dumps(stack)};")
        for node in nodes:
            label = json.dumps(node.label.replace("<br/>", "\n"))
            shape = "cylinder" if node.store else "box"
            lines.append(f"    {node.node_id} [label={label}, shape={shape}];")
        lines.append("  }")
    for edge in sorted(graph.edges, key=lambda e: (e.source, e.target, e.label)):
        label = f" [label={json.dumps(edge.label)}]" if edge.label else ""
        lines.append(f"  {edge.source} -> {edge.target}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(outdir: Path, output_format: str = "mermaid") -> bytes:
    """The diagram of the assembly in ``outdir`` in ``output_format`` (one of
    :data:`FORMATS`). SVG and PNG need Graphviz's ``dot`` on the PATH."""
    if output_format not in FORMATS:
        raise DiagramError(f"--format {output_format!r} is not one of {', '.join(FORMATS)}")
    graph = build_graph(read_stacks(outdir))
    if output_format == "mermaid":
        return mermaid(graph).encode()
    source = dot(graph)
    if output_format == "dot":
        return source.encode()
    executable = shutil.which("dot")
    if executable is None:
        raise DiagramError(
            f"--format {output_format} needs Graphviz's `dot` on the PATH (e.g. apt-get "
            "install graphviz); --format mermaid needs nothing"
        )
    result = subprocess.run(
        [executable, f"-T{output_format}"],
        input=source.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise DiagramError(f"Graphviz failed: {message[0] if message else result.returncode}")
    return result.stdout

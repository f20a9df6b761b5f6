"""Reads the stacks of a synthesized cloud assembly (``cdk.out/``) without starting the CDK.

Any app's assembly: this repository's, or a consumer's with its own stacks and stages
(nested assemblies are followed). ``ml-blueprints cost`` and ``ml-blueprints diagram`` read
it; a missing or unreadable assembly raises :class:`AssemblyError` with a one-line reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY = "cdk:cloud-assembly"


class AssemblyError(Exception):
    """The assembly cannot be read: the message says what to fix, in one line."""


@dataclass(frozen=True)
class StackTemplate:
    """One stack of the assembly: its display name, artifact id, CloudFormation stack name
    and template."""

    name: str
    artifact_id: str
    template: dict[str, Any]
    stack_name: str = ""

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The template's resources by logical id (empty for a stack without any)."""
        resources = self.template.get("Resources") or {}
        return resources if isinstance(resources, dict) else {}


def read_stacks(outdir: Path) -> list[StackTemplate]:
    """Every stack in the assembly at ``outdir`` (and in its nested assemblies), in manifest
    order. Raises :class:`AssemblyError` when there is no assembly or it is corrupt."""
    manifest = outdir / "manifest.json"
    if not manifest.is_file():
        raise AssemblyError(
            f"{outdir}/ holds no synthesized app (no manifest.json): run `make synth` "
            "(or `cdk synth`) first, or pass --outdir"
        )
    stacks: list[StackTemplate] = []
    _collect(outdir, stacks)
    if not stacks:
        raise AssemblyError(f"{outdir}/ holds no CloudFormation stack: nothing to read")
    return stacks


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AssemblyError(
            f"{path} is missing: the assembly is incomplete; synthesize again"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AssemblyError(f"{path} is not readable JSON ({reason}): synthesize again") from None


def _collect(directory: Path, stacks: list[StackTemplate]) -> None:
    manifest = _load_json(directory / "manifest.json")
    artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
    if not isinstance(artifacts, dict):
        raise AssemblyError(
            f"{directory / 'manifest.json'} has no artifacts: it is not a CDK cloud assembly"
        )
    for artifact_id, artifact in artifacts.items():
        if not isinstance(artifact, dict):
            continue
        kind = artifact.get("type")
        properties = artifact.get("properties") or {}
        if kind == STACK_ARTIFACT:
            template_file = properties.get("templateFile", f"{artifact_id}.template.json")
            template = _load_json(directory / template_file)
            if not isinstance(template, dict):
                raise AssemblyError(f"{directory / template_file} is not a template")
            stacks.append(
                StackTemplate(
                    name=str(artifact.get("displayName") or artifact_id),
                    artifact_id=artifact_id,
                    template=template,
                    stack_name=str(properties.get("stackName") or artifact_id),
                )
            )
        elif kind == NESTED_ASSEMBLY and properties.get("directoryName"):
            _collect(directory / properties["directoryName"], stacks)

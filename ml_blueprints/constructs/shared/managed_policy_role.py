"""ManagedPolicyRole: an IAM role whose grants land in a customer-managed policy.

CDK's ``grant_*`` methods add statements to a role's inline ``DefaultPolicy``. HIPAA, NIST
800-53 and PCI DSS all reject inline policies (``IAMNoInlinePolicy``): a managed policy can
be reviewed, versioned and reused on its own. This role keeps every ``grant_*`` and
``add_to_policy`` working and puts the statements in one managed policy attached to it.
"""

from __future__ import annotations

import typing
from typing import Any

from aws_cdk import aws_iam as iam
from constructs import Construct

from ml_blueprints.validation import PropErrors, type_problems


class ManagedPolicyRole(iam.Role):
    """``iam.Role`` (same props) with grants collected in one customer-managed policy.

    The policy (``.grants_policy``) is created on the first grant, so a role nobody grants
    anything to has none. Inline ``inline_policies`` are refused for the same reason.
    """

    def __init__(self, scope: Construct, id: str, **role_props: Any) -> None:
        errors = PropErrors("ManagedPolicyRole")
        hints = typing.get_type_hints(iam.Role.__init__)
        for name, value in role_props.items():
            if name not in hints:
                errors.add(name, value, "not a prop of iam.Role")
            else:
                errors.problems.extend(type_problems(value, hints[name], name))
        errors.require("assumed_by" in role_props, "assumed_by", None, "required: the principal")
        errors.require(
            not role_props.get("inline_policies"),
            "inline_policies",
            "...",
            "not allowed; grant to the role or attach managed policies instead",
        )
        errors.raise_if_any()
        super().__init__(scope, id, **role_props)
        self.grants_policy: iam.ManagedPolicy | None = None

    def ensure_grants_policy(self) -> iam.ManagedPolicy:
        """The role's grants policy, created (and attached) if it does not exist yet."""
        if self.grants_policy is None:
            self.grants_policy = iam.ManagedPolicy(
                self, "GrantsPolicy", description=f"Grants to {self.node.path}"
            )
            self.add_managed_policy(self.grants_policy)
        return self.grants_policy

    def add_to_principal_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToPrincipalPolicyResult:
        policy = self.ensure_grants_policy()
        policy.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=policy)

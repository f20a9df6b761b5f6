"""Grants that leave the grantee's app compliant, whatever kind of role it brings.

CDK's ``grant_*`` methods put statements into a role's inline ``DefaultPolicy``, with action
groups such as ``s3:GetObject*`` and ``kms:ReEncrypt*``. HIPAA, NIST 800-53 and PCI DSS
reject inline policies, and AWS Solutions reports every action group and every wildcard
resource. The library's grants (``SecureDataLake.grant_read``, ``grant_write``,
``StreamingIngestion.grant_write``, ``DataCatalog.grant_query``) therefore go through
:func:`grant_on_managed_policy`:

- the statements list exact actions (module constants next to each grant, as aws-cdk's
  ``aws-s3/lib/perms.ts`` keeps them);
- they land in a customer-managed policy attached to the grantee: the grants policy of a
  :class:`ManagedPolicyRole`, or one policy per grantee (``MlbpGrantsPolicy``, a child of the
  role, user or group, so in its stack) for a plain ``iam.Role``, an imported role, a user or
  a group;
- the wildcards a grant cannot avoid (the objects under a prefix, whose names are only known
  at run time) are acknowledged on that policy by the grant itself, with its reason.

The result is a real ``iam.Grant`` (its statements and its policy as the dependable), so
``grant.apply_before(resource)`` works as with CDK's own grants.
"""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import aws_iam as iam
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole

#: Id of the customer-managed policy a grant creates on a plain role, user or group.
GRANTS_POLICY_ID = "MlbpGrantsPolicy"

GRANTEE_ALLOWED = (
    "an IAM role, user or group, or a construct whose grant_principal is one (a Lambda "
    "function, a ManagedPolicyRole...): the grant is a customer-managed policy attached to it"
)


def grant_on_managed_policy(
    grantee: iam.IGrantable,
    statements: Sequence[iam.PolicyStatement],
    *,
    wildcard_resources: Sequence[str] = (),
    reason: str = "",
) -> iam.Grant:
    """Add ``statements`` to a customer-managed policy of ``grantee`` and return the grant.

    ``wildcard_resources`` are the statements' resources with a wildcard that the grant
    cannot avoid; each is acknowledged (``AwsSolutions-IAM5[Resource::...]``) on the policy
    with ``reason``. Raises ``ValueError`` when ``grantee`` is not a role, user or group
    (see :data:`GRANTEE_ALLOWED`).
    """
    policy = managed_grants_policy(grantee)
    target: iam.IGrantable = (
        grantee.grant_principal
        if isinstance(grantee.grant_principal, ManagedPolicyRole)
        else _PolicyPrincipal(grantee.grant_principal, policy)
    )
    grant: iam.Grant | None = None
    for statement in statements:
        one = iam.Grant.add_to_principal(
            grantee=target,
            actions=statement.actions,
            resource_arns=statement.resources,
            conditions=statement.conditions or None,
        )
        grant = one if grant is None else grant.combine(one)
    assert grant is not None, "a grant needs at least one statement"
    if wildcard_resources:
        acknowledge_wildcard_resources(
            managed_grants_policy(grantee), list(wildcard_resources), reason
        )
    return grant


def managed_grants_policy(grantee: iam.IGrantable) -> iam.ManagedPolicy:
    """The customer-managed policy grants to ``grantee`` go into (created on first use)."""
    principal = grantee.grant_principal
    if isinstance(principal, ManagedPolicyRole):
        return principal.ensure_grants_policy()
    kind = _identity_kind(principal)
    scope = _as_construct(principal)
    if kind is None or scope is None:
        raise ValueError(f"grant: invalid prop:\n  - grantee={grantee!r}: {GRANTEE_ALLOWED}")
    existing = scope.node.try_find_child(GRANTS_POLICY_ID)
    if isinstance(existing, iam.ManagedPolicy):
        return existing
    policy = iam.ManagedPolicy(
        scope,
        GRANTS_POLICY_ID,
        description=f"Grants of ml-blueprints constructs to {scope.node.path}",
    )
    if kind == "role":
        policy.attach_to_role(principal)  # type: ignore[arg-type]
    elif kind == "user":
        policy.attach_to_user(principal)  # type: ignore[arg-type]
    else:
        policy.attach_to_group(principal)  # type: ignore[arg-type]
    return policy


def _as_construct(principal: object) -> Construct | None:
    """The construct behind ``principal``: itself, or for an imported resource (a jsii
    proxy of several interfaces) the delegate that is the construct."""
    if isinstance(principal, Construct):
        return principal
    for delegate in getattr(principal, "_delegates", None) or ():
        if isinstance(delegate, Construct):
            return delegate
    return None


def _identity_kind(principal: object) -> str | None:
    """``"role"``, ``"user"`` or ``"group"`` for an IAM identity construct, else ``None``."""
    for kind, attribute in (("role", "role_arn"), ("user", "user_arn"), ("group", "group_arn")):
        try:
            getattr(principal, attribute)
        except AttributeError:
            continue
        return kind
    return None


@jsii.implements(iam.IPrincipal)
class _PolicyPrincipal:
    """``principal`` as CDK's grants see it, except that statements added to it go into
    ``policy`` (customer-managed) instead of the principal's inline default policy."""

    def __init__(self, principal: iam.IPrincipal, policy: iam.ManagedPolicy) -> None:
        self._principal = principal
        self._policy = policy

    @property
    def grant_principal(self) -> iam.IPrincipal:
        return self  # type: ignore[return-value]

    @property
    def assume_role_action(self) -> str:
        return self._principal.assume_role_action

    @property
    def policy_fragment(self) -> iam.PrincipalPolicyFragment:
        return self._principal.policy_fragment

    @property
    def principal_account(self) -> str | None:
        return self._principal.principal_account

    def add_to_principal_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToPrincipalPolicyResult:
        self._policy.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self._policy)

    def add_to_policy(self, statement: iam.PolicyStatement) -> bool:
        return self.add_to_principal_policy(statement).statement_added


__all__ = ["GRANTS_POLICY_ID", "grant_on_managed_policy", "managed_grants_policy"]

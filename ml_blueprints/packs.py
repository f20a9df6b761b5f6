"""The names of the compliance rule packs, importable without starting the CDK."""

from ml_blueprints.rules.base import PACK as PROJECT_PACK

#: The rule packs every stack is checked against, by the prefix their findings carry: the
#: four cdk-nag packs and the project's own (:mod:`ml_blueprints.rules`).
RULE_PACKS: tuple[str, ...] = (
    "AwsSolutions",
    "HIPAA.Security",
    "NIST.800.53.R5",
    "PCI.DSS.321",
    PROJECT_PACK,
)

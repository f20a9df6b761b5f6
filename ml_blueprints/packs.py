"""The names of the compliance rule packs, importable without starting the CDK."""

#: The cdk-nag rule packs every stack is checked against, by the prefix their findings carry.
RULE_PACKS: tuple[str, ...] = ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")

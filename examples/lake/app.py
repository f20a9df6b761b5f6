"""The README's data lake example: a private network, a two-zone lake, a reader role.

python examples/lake/app.py   # or `cdk synth` with "app": "python app.py"
"""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from ml_blueprints.compliance import apply_rule_packs
from ml_blueprints.constructs import PrivateNetwork, SecureDataLake, ZoneLifecycle

app = cdk.App()
stack = cdk.Stack(app, "MyLakeStack")
network = PrivateNetwork(stack, "Network")
lake = SecureDataLake(
    stack,
    "Lake",
    zones=["raw", "curated"],
    vpc_endpoint=network.s3_endpoint,
    lifecycle={"raw": ZoneLifecycle(infrequent_access_after_days=30, glacier_after_days=90)},
)
# A role of your own (here a Lambda function's, in the VPC) reading the curated zone: the
# grant lists exact actions, lands in a customer-managed policy and acknowledges its own
# unavoidable object wildcard, so the app stays compliant with nothing more to write.
reader = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
lake.grant_read("curated", reader)
apply_rule_packs(app)  # optional: the same compliance packs this repository uses
app.synth()

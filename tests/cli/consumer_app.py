"""A consumer's own CDK app, written as a user of the package writes one: its own stacks (one
inside a Stage, so a nested assembly), none of this repository's context or feature flags
(so cross-stack references are Fn::ImportValue), no rule packs, and a resource type the
cost table does not know (an SQS queue). The cost and diagram commands must read it as they
read the project's app."""

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from ml_blueprints.constructs import PrivateNetwork, SecureDataLake, StreamingIngestion

app = cdk.App()
lake_stack = cdk.Stack(app, "AcmeLake")
network = PrivateNetwork(lake_stack, "Network")
lake = SecureDataLake(
    lake_stack,
    "Lake",
    zones=["raw"],
    vpc_endpoint=network.s3_endpoint,
    exempt_role_name_prefixes=["acme-svc-"],
)
stream_stack = cdk.Stack(app, "AcmeClicks")
StreamingIngestion(
    stream_stack,
    "Clicks",
    lake=lake,
    prefix="clicks",
    delivery_role_name="acme-svc-clicks-delivery",
)

stage = cdk.Stage(app, "Archive")
archive = cdk.Stack(stage, "Store")
s3.Bucket(archive, "Archive", enforce_ssl=True)
sqs.Queue(archive, "Requests", encryption=sqs.QueueEncryption.KMS_MANAGED)
app.synth()

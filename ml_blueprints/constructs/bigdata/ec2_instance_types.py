"""Every EC2 instance type that exists, from botocore's EC2 service model.

Read from the ``InstanceType`` enum of botocore 1.44.8's ``ec2`` model (the types
``RunInstances`` accepts) and written here, so a construct can refuse an instance type that
does not exist without loading botocore's 4 MB model at synth time. The tests compare it with
the installed botocore: regenerate it when botocore is upgraded on purpose.
"""

from __future__ import annotations

#: The botocore version the table was read from.
BOTOCORE_VERSION = "1.44.8"

# fmt: off
#: Sizes by family, as botocore lists them.
SIZES_BY_FAMILY: dict[str, str] = {
    "a1": "medium large xlarge 2xlarge 4xlarge metal",
    "c1": "medium xlarge",
    "c3": "large xlarge 2xlarge 4xlarge 8xlarge",
    "c4": "large xlarge 2xlarge 4xlarge 8xlarge",
    "c5": "large xlarge 2xlarge 4xlarge 9xlarge 12xlarge 18xlarge 24xlarge metal",
    "c5a": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge",
    "c5ad": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge",
    "c5d": "large xlarge 2xlarge 4xlarge 9xlarge 12xlarge 18xlarge 24xlarge metal",
    "c5n": "large xlarge 2xlarge 4xlarge 9xlarge 18xlarge metal",
    "c6a": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge metal"
    ),
    "c6g": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "c6gd": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "c6gn": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "c6i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "c6id": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "c6in": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "c7a": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge metal-48xl"
    ),
    "c7g": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "c7gd": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "c7gn": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "c7i": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "c7i-flex": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "c8a": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "c8g": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "c8gb": (
        "12xlarge 16xlarge 24xlarge 2xlarge 4xlarge 8xlarge large medium metal-24xl "
        "xlarge 48xlarge metal-48xl"
    ),
    "c8gd": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "c8gn": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "c8i": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "c8i-flex": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "c8ib": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "c8id": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "c8in": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "c8ine": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge",
    "c9g": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-48xl"
    ),
    "c9gd": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-48xl"
    ),
    "cc1": "4xlarge",
    "cc2": "8xlarge",
    "cg1": "4xlarge",
    "cr1": "8xlarge",
    "d2": "xlarge 2xlarge 4xlarge 8xlarge",
    "d3": "xlarge 2xlarge 4xlarge 8xlarge",
    "d3en": "xlarge 2xlarge 4xlarge 6xlarge 8xlarge 12xlarge",
    "dl1": "24xlarge",
    "dl2q": "24xlarge",
    "f1": "2xlarge 4xlarge 16xlarge",
    "f2": "12xlarge 48xlarge 6xlarge",
    "g2": "2xlarge 8xlarge",
    "g3": "4xlarge 8xlarge 16xlarge",
    "g3s": "xlarge",
    "g4ad": "xlarge 2xlarge 4xlarge 8xlarge 16xlarge",
    "g4dn": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "g5": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    "g5g": "xlarge 2xlarge 4xlarge 8xlarge 16xlarge metal",
    "g6": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    "g6e": "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge",
    "g6f": "large xlarge 2xlarge 4xlarge",
    "g7": "2xlarge 4xlarge 8xlarge 12xlarge 24xlarge 48xlarge",
    "g7e": "2xlarge 4xlarge 8xlarge 12xlarge 24xlarge 48xlarge",
    "gr6": "4xlarge 8xlarge",
    "gr6f": "4xlarge",
    "h1": "2xlarge 4xlarge 8xlarge 16xlarge",
    "hi1": "4xlarge",
    "hpc6a": "48xlarge",
    "hpc6id": "32xlarge",
    "hpc7a": "12xlarge 24xlarge 48xlarge 96xlarge",
    "hpc7g": "4xlarge 8xlarge 16xlarge",
    "hpc8a": "96xlarge",
    "hs1": "8xlarge",
    "i2": "xlarge 2xlarge 4xlarge 8xlarge",
    "i3": "large xlarge 2xlarge 4xlarge 8xlarge 16xlarge metal",
    "i3en": "large xlarge 2xlarge 3xlarge 6xlarge 12xlarge 24xlarge metal",
    "i4g": "large xlarge 2xlarge 4xlarge 8xlarge 16xlarge",
    "i4i": "large xlarge 2xlarge 4xlarge 8xlarge 16xlarge 32xlarge metal 12xlarge 24xlarge",
    "i7i": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "i7ie": (
        "large xlarge 2xlarge 3xlarge 6xlarge 12xlarge 18xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "i8g": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal-24xl "
        "48xlarge metal-48xl"
    ),
    "i8ge": (
        "large xlarge 2xlarge 3xlarge 6xlarge 12xlarge 18xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "im4gn": "large xlarge 2xlarge 4xlarge 8xlarge 16xlarge",
    "inf1": "xlarge 2xlarge 6xlarge 24xlarge",
    "inf2": "xlarge 8xlarge 24xlarge 48xlarge",
    "is4gen": "medium large xlarge 2xlarge 4xlarge 8xlarge",
    "m1": "small medium large xlarge",
    "m2": "xlarge 2xlarge 4xlarge",
    "m3": "medium large xlarge 2xlarge",
    "m4": "large xlarge 2xlarge 4xlarge 10xlarge 16xlarge",
    "m5": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "m5a": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge",
    "m5ad": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge",
    "m5d": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "m5dn": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "m5n": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "m5zn": "large xlarge 2xlarge 3xlarge 6xlarge 12xlarge metal",
    "m6a": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge metal"
    ),
    "m6g": "metal medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "m6gd": "metal medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "m6i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "m6id": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "m6idn": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "m6in": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "m7a": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge metal-48xl"
    ),
    "m7g": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "m7gd": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "m7i": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "m7i-flex": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "m8a": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "m8azn": "medium large xlarge 3xlarge 6xlarge 12xlarge 24xlarge metal-12xl metal-24xl",
    "m8g": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "m8gb": (
        "12xlarge 16xlarge 24xlarge 2xlarge 4xlarge 8xlarge large medium xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "m8gd": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "m8gn": (
        "12xlarge 16xlarge 24xlarge 2xlarge 48xlarge 4xlarge 8xlarge large medium xlarge "
        "metal-24xl metal-48xl"
    ),
    "m8i": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "m8i-flex": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "m8ib": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "m8id": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "m8idb": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "m8idn": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "m8in": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "m8ine": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge",
    "m9g": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl medium"
    ),
    "m9gd": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl medium"
    ),
    "mac-m3ultra": "metal",
    "mac-m4": "metal",
    "mac-m4max": "metal",
    "mac-m4pro": "metal",
    "mac1": "metal",
    "mac2": "metal",
    "mac2-m1ultra": "metal",
    "mac2-m2": "metal",
    "mac2-m2pro": "metal",
    "p2": "xlarge 8xlarge 16xlarge",
    "p3": "2xlarge 8xlarge 16xlarge",
    "p3dn": "24xlarge",
    "p4d": "24xlarge",
    "p4de": "24xlarge",
    "p5": "48xlarge 4xlarge",
    "p5e": "48xlarge",
    "p5en": "48xlarge",
    "p6-b200": "48xlarge",
    "p6-b300": "48xlarge",
    "p6e-gb200": "36xlarge",
    "r3": "large xlarge 2xlarge 4xlarge 8xlarge",
    "r4": "large xlarge 2xlarge 4xlarge 8xlarge 16xlarge",
    "r5": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "r5a": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge",
    "r5ad": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge",
    "r5b": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "r5d": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "r5dn": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "r5n": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal",
    "r6a": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge metal"
    ),
    "r6g": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "r6gd": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "r6i": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "r6id": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "r6idn": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "r6in": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal",
    "r7a": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge metal-48xl"
    ),
    "r7g": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "r7gd": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "r7i": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "r7iz": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 32xlarge metal-16xl metal-32xl",
    "r8a": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "r8g": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "r8gb": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge "
        "metal-24xl 48xlarge metal-48xl"
    ),
    "r8gd": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "r8gn": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "r8i": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "r8i-flex": "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge",
    "r8ib": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "r8id": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "r8idb": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "r8idn": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "r8in": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "r9g": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-48xl"
    ),
    "r9gd": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-48xl"
    ),
    "t1": "micro",
    "t2": "nano micro small medium large xlarge 2xlarge",
    "t3": "nano micro small medium large xlarge 2xlarge",
    "t3a": "nano micro small medium large xlarge 2xlarge",
    "t4g": "nano micro small medium large xlarge 2xlarge",
    "t8i": "nano micro small medium",
    "trn1": "2xlarge 32xlarge",
    "trn1n": "32xlarge",
    "trn2": "48xlarge 3xlarge",
    "trn2u": "48xlarge",
    "u-12tb1": "112xlarge metal",
    "u-18tb1": "metal 112xlarge",
    "u-24tb1": "metal 112xlarge",
    "u-3tb1": "56xlarge",
    "u-6tb1": "56xlarge 112xlarge metal",
    "u-9tb1": "112xlarge metal",
    "u7i-12tb": "224xlarge",
    "u7i-6tb": "112xlarge",
    "u7i-8tb": "112xlarge",
    "u7ib-12tb": "224xlarge",
    "u7in-16tb": "224xlarge",
    "u7in-24tb": "224xlarge",
    "u7in-32tb": "224xlarge",
    "u7inh-32tb": "480xlarge",
    "vt1": "3xlarge 6xlarge 24xlarge",
    "x1": "16xlarge 32xlarge",
    "x1e": "xlarge 2xlarge 4xlarge 8xlarge 16xlarge 32xlarge",
    "x2gd": "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal",
    "x2idn": "16xlarge 24xlarge 32xlarge metal",
    "x2iedn": "xlarge 2xlarge 4xlarge 8xlarge 16xlarge 24xlarge 32xlarge metal",
    "x2iezn": "2xlarge 4xlarge 6xlarge 8xlarge 12xlarge metal",
    "x8aedz": "12xlarge 24xlarge 3xlarge 6xlarge large metal-12xl metal-24xl xlarge",
    "x8g": (
        "medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge "
        "metal-24xl metal-48xl"
    ),
    "x8i": (
        "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge "
        "48xlarge 64xlarge 96xlarge metal-48xl metal-96xl"
    ),
    "z1d": "large xlarge 2xlarge 3xlarge 6xlarge 12xlarge metal",
}
# fmt: on

#: Every instance type name, ``family.size``.
EC2_INSTANCE_TYPES: frozenset[str] = frozenset(
    f"{family}.{size}" for family, sizes in SIZES_BY_FAMILY.items() for size in sizes.split()
)

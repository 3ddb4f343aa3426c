"""Terraform building blocks of ec2-domain-join, written with CDK for Terraform.

The constructs here (`Hub`, `RegionForwarder`, `Spoke`) are the only place, with
`main.py`, that imports cdktf or the AWS provider bindings.
"""

from .cdk import use_selected_cdk

use_selected_cdk()  # before any module imports the AWS bindings under cdktf's names

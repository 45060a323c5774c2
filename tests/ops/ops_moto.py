"""Helpers for ops tests that talk to moto over HTTP: endpoint, clients and arrangers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REGION = "eu-west-1"


@dataclass
class Aws:
    """The moto endpoint and clients to arrange what a test needs."""

    url: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def args(self) -> list[str]:
        """The command-line options pointing a command at this endpoint."""
        return ["--endpoint-url", self.url, "--region", REGION]

    def create_instance(self, name: str, version: str = "15.4", **extra: Any) -> dict[str, Any]:
        return self.client("rds").create_db_instance(
            DBInstanceIdentifier=name, Engine=extra.pop("Engine", "postgres"),
            EngineVersion=version, DBInstanceClass="db.t3.micro", AllocatedStorage=20,
            MasterUsername="master", MasterUserPassword="not-a-real-password", **extra,
        )["DBInstance"]

    def parameters(self, group: str) -> dict[str, str]:
        rds = self.client("rds")
        pages = rds.get_paginator("describe_db_parameters").paginate(DBParameterGroupName=group)
        return {p["ParameterName"]: p.get("ParameterValue")
                for page in pages for p in page["Parameters"]}

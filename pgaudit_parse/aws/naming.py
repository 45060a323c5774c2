"""RDS naming, its one home: the log group of an instance or cluster, and which DB instance
a log group or log stream belongs to (needs no boto3).

RDS publishes an instance's PostgreSQL log to ``/aws/rds/instance/<name>/postgresql`` and
an Aurora cluster's to ``/aws/rds/cluster/<cluster>/postgresql``, with one log stream per
member instance, named after it.

>>> instance_for_stream("/aws/rds/cluster/shop/postgresql", "shop-instance-1")
'shop-instance-1'
>>> instance_for_stream("/aws/rds/instance/db1/postgresql", "db1.0")
'db1'
>>> print(instance_for_stream("/my/own/group", "db1"))
None
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["LOG_EXPORT", "RDS_LOG_GROUP_PREFIX", "log_group_name", "instance_from_log_group",
           "instance_for_stream"]

#: The log type RDS exports for PostgreSQL (``EnableCloudwatchLogsExports``), and the last
#: part of the log group's name.
LOG_EXPORT: Final = "postgresql"

#: Where every RDS log group is (instances, clusters; every log type).
RDS_LOG_GROUP_PREFIX: Final = "/aws/rds/"

_GROUP = re.compile(rf"^{RDS_LOG_GROUP_PREFIX}(?P<kind>instance|cluster)/(?P<name>[^/]+)/"
                    rf"{LOG_EXPORT}$")


def log_group_name(name: str, kind: str = "instance") -> str:
    """The log group RDS publishes the PostgreSQL log of an instance (or a cluster) to.

    >>> log_group_name("db1"), log_group_name("shop", "cluster")
    ('/aws/rds/instance/db1/postgresql', '/aws/rds/cluster/shop/postgresql')
    """
    if kind not in ("instance", "cluster"):
        raise ValueError(f"kind must be 'instance' or 'cluster', not {kind!r}")
    return f"{RDS_LOG_GROUP_PREFIX}{kind}/{name}/{LOG_EXPORT}"


def instance_from_log_group(group: str) -> str | None:
    """The instance (or cluster) name in an RDS PostgreSQL log group, else None.

    >>> instance_from_log_group("/aws/rds/cluster/shop/postgresql")
    'shop'
    >>> instance_from_log_group("my-own-group") is None
    True
    """
    match = _GROUP.match(group)
    return match.group("name") if match else None


def instance_for_stream(group: str, stream: str) -> str | None:
    """The DB instance whose lines a log stream holds.

    For a cluster group the stream names the member instance; for an instance group the
    instance named in the group; otherwise None (the caller's ``--instance`` decides).

    >>> instance_for_stream("/aws/rds/instance/db1/postgresql", "db1.0")
    'db1'
    """
    match = _GROUP.match(group)
    if not match:
        return None
    if match.group("kind") == "cluster" and stream:
        return stream
    return match.group("name")

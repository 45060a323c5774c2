"""Account-scale wiring: a CloudWatch Logs subscription filter on every RDS/Aurora PostgreSQL
log group, pointing at the ``subscription_handler`` Lambda or a Firehose delivery stream.

:func:`plan_subscriptions` reads the account (no changes) and says, per log group, what
:func:`apply_subscriptions` would do: ``create`` our filter, ``update`` it (its destination,
pattern or role changed), ``keep`` it (or a filter of another name that already sends to
the destination: a second one would deliver every event twice), or ``blocked``
(CloudWatch Logs allows two subscription filters per log group, and both are someone
else's). Applying twice changes nothing the second time. A Lambda destination also needs
CloudWatch Logs' permission to invoke it: one resource-policy statement for all RDS log
groups of the region, added once.

>>> is_rds_postgres_group("/aws/rds/cluster/shop/postgresql")
True
>>> is_rds_postgres_group("/aws/rds/instance/db1/error")
False
>>> destination_service("arn:aws:firehose:eu-west-1:123456789012:deliverystream/pg")
'firehose'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from ..aws.naming import RDS_LOG_GROUP_PREFIX, instance_from_log_group

__all__ = [
    "DEFAULT_FILTER_NAME",
    "FILTERS_PER_GROUP",
    "SubscriptionChange",
    "SubscriptionPlan",
    "SubscribeError",
    "is_rds_postgres_group",
    "destination_service",
    "rds_postgres_groups",
    "plan_subscriptions",
    "apply_subscriptions",
    "render_plan",
    "lambda_permission_statement_id",
]

DEFAULT_FILTER_NAME: Final = "pgaudit-parse"
#: CloudWatch Logs' quota of subscription filters per log group.
FILTERS_PER_GROUP: Final = 2
_RDS_GROUPS: Final = RDS_LOG_GROUP_PREFIX


class SubscribeError(Exception):
    """A destination or option that cannot work (said before anything changes)."""


def is_rds_postgres_group(name: str) -> bool:
    """Whether a log group is an RDS instance's or Aurora cluster's PostgreSQL log."""
    return instance_from_log_group(name) is not None


def destination_service(arn: str) -> str:
    """``lambda`` or ``firehose`` for a supported destination ARN, else SubscribeError."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] not in ("lambda", "firehose"):
        raise SubscribeError(f"--destination-arn must be a Lambda function or Firehose "
                             f"delivery stream ARN, not {arn!r}")
    return parts[2]


def lambda_permission_statement_id(region: str, account: str) -> str:
    """The id of the statement that lets CloudWatch Logs invoke the function."""
    return f"pgaudit-parse-logs-{region}-{account}"


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """What happens to one log group."""

    group: str
    action: str  # create | update | keep | blocked
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SubscriptionPlan:
    """The changes for all groups, and the Lambda permission (if one is missing)."""

    destination_arn: str
    filter_name: str
    filter_pattern: str
    role_arn: str | None
    changes: tuple[SubscriptionChange, ...]
    permission_missing: bool = False

    @property
    def has_changes(self) -> bool:
        """Whether applying would change anything."""
        return self.permission_missing or any(c.action in ("create", "update")
                                              for c in self.changes)


def rds_postgres_groups(logs: Any, names: Iterable[str] = ()) -> list[str]:
    """The RDS/Aurora PostgreSQL log groups of the region (paginated), or those named."""
    wanted = list(names)
    if wanted:
        missing = [n for n in wanted if not _group_exists(logs, n)]
        if missing:
            raise SubscribeError(f"no such log group: {', '.join(missing)}")
        return wanted
    found: list[str] = []
    for page in logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=_RDS_GROUPS):
        found += [g["logGroupName"] for g in page.get("logGroups", [])
                  if is_rds_postgres_group(g["logGroupName"])]
    return sorted(found)


def _group_exists(logs: Any, name: str) -> bool:
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
        if any(g["logGroupName"] == name for g in page.get("logGroups", [])):
            return True
    return False


def plan_subscriptions(logs: Any, destination_arn: str, *, role_arn: str | None = None,
                       filter_name: str = DEFAULT_FILTER_NAME, filter_pattern: str = "",
                       groups: Iterable[str] = (), lambda_client: Any = None,
                       region: str = "", account: str = "") -> SubscriptionPlan:
    """Read what exists and plan the changes (nothing is changed)."""
    service = destination_service(destination_arn)
    if service == "firehose" and not role_arn:
        raise SubscribeError("a Firehose destination needs --role-arn: a role CloudWatch Logs "
                             "assumes to put records (see: pgaudit-parse iam-policy)")
    changes = []
    for group in rds_postgres_groups(logs, groups):
        filters = logs.describe_subscription_filters(logGroupName=group).get(
            "subscriptionFilters", [])
        ours = next((f for f in filters if f.get("filterName") == filter_name), None)
        # A filter of another name that already sends to the destination: a second one
        # would deliver every event twice.
        already = next((f for f in filters if f.get("destinationArn") == destination_arn),
                       None)
        if ours is None and already is not None:
            changes.append(SubscriptionChange(
                group, "keep", f"sent there by filter {str(already.get('filterName'))!r}"))
            continue
        if ours is None:
            if len(filters) >= FILTERS_PER_GROUP:
                names = ", ".join(str(f.get("filterName")) for f in filters)
                changes.append(SubscriptionChange(group, "blocked",
                                                  f"already has {len(filters)} filters ({names})"))
            else:
                changes.append(SubscriptionChange(group, "create"))
            continue
        differs = [what for what, old, new in (
            ("destination", ours.get("destinationArn"), destination_arn),
            ("pattern", ours.get("filterPattern") or "", filter_pattern),
            ("role", ours.get("roleArn") or None, role_arn if service == "firehose" else None),
        ) if old != new]
        changes.append(SubscriptionChange(group, "update", ", ".join(differs)) if differs
                       else SubscriptionChange(group, "keep"))
    missing = False
    if service == "lambda" and lambda_client is not None:
        missing = not _has_permission(lambda_client, destination_arn,
                                      lambda_permission_statement_id(region, account))
    return SubscriptionPlan(destination_arn, filter_name, filter_pattern,
                            role_arn if service == "firehose" else None, tuple(changes),
                            missing)


def _has_permission(lambda_client: Any, function_arn: str, statement_id: str) -> bool:
    import json

    try:
        policy = lambda_client.get_policy(FunctionName=function_arn)["Policy"]
    except Exception as exc:  # no policy at all: a "not found" error
        from ..aws.errors import is_not_found  # botocore: only when AWS is talked to

        if is_not_found(exc):
            return False
        raise
    return any(s.get("Sid") == statement_id for s in json.loads(policy).get("Statement", []))


def apply_subscriptions(logs: Any, plan: SubscriptionPlan, *, lambda_client: Any = None,
                        region: str = "", account: str = "", partition: str = "aws",
                        ) -> list[str]:
    """Make the planned changes; returns one line per change made."""
    done: list[str] = []
    if plan.permission_missing and lambda_client is not None:
        lambda_client.add_permission(
            FunctionName=plan.destination_arn,
            StatementId=lambda_permission_statement_id(region, account),
            Action="lambda:InvokeFunction", Principal="logs.amazonaws.com",
            SourceArn=f"arn:{partition}:logs:{region}:{account}:log-group:{_RDS_GROUPS}*",
            SourceAccount=account)
        done.append(f"allowed CloudWatch Logs to invoke {plan.destination_arn}")
    for change in plan.changes:
        if change.action not in ("create", "update"):
            continue
        arguments: dict[str, Any] = {
            "logGroupName": change.group, "filterName": plan.filter_name,
            "filterPattern": plan.filter_pattern, "destinationArn": plan.destination_arn}
        if plan.role_arn:
            arguments["roleArn"] = plan.role_arn
        logs.put_subscription_filter(**arguments)
        done.append(f"{change.action}d subscription filter {plan.filter_name} on {change.group}")
    return done


def render_plan(plan: SubscriptionPlan) -> str:
    """The plan as text: one line per log group, then what applying would change."""
    lines = [f"Subscription filter {plan.filter_name!r} -> {plan.destination_arn}"]
    if plan.filter_pattern:
        lines.append(f"  filter pattern: {plan.filter_pattern}")
    if plan.role_arn:
        lines.append(f"  role: {plan.role_arn}")
    if not plan.changes:
        lines.append("  no RDS/Aurora PostgreSQL log group found")
    width = max((len(c.action) for c in plan.changes), default=0)
    for change in plan.changes:
        detail = f" ({change.detail})" if change.detail else ""
        lines.append(f"  {change.action.ljust(width)}  {change.group}{detail}")
    if plan.permission_missing:
        lines.append("  add     permission for CloudWatch Logs to invoke the function")
    counts = {a: sum(1 for c in plan.changes if c.action == a)
              for a in ("create", "update", "keep", "blocked")}
    lines.append("  " + ", ".join(f"{n} {a}" for a, n in counts.items()))
    return "\n".join(lines) + "\n"

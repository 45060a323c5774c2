"""Check, in order, everything a pgaudit-parse AWS setup depends on, and say how to fix it.

Checks run in the order a newcomer meets the problems: credentials, region, network,
identity, then the log group (exists, recent events, pgAudit lines), the DB instance
(log export, pgAudit loaded and configured, no pending reboot), the queue (exists,
readable), and the subscription filters that send the logs to a Lambda or Firehose. A
check whose prerequisite failed is skipped, not failed again.

>>> print(render_table([CheckResult("region", PASS, "eu-west-1")]), end="")
 #  check   result  detail
 1  region  PASS    eu-west-1
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pgaudit_parse.aws.clients import region_of
from pgaudit_parse.aws.errors import error_code, error_message, hide_credentials, is_denied
from pgaudit_parse.aws.naming import log_group_name
from pgaudit_parse.ops.aws import AwsOptions, client
from pgaudit_parse.ops.rds_setup import (
    LOG_EXPORT,
    SetupError,
    group_parameters,
    is_default_group,
    read_target,
)
from pgaudit_parse.ops.subscribe import rds_postgres_groups

__all__ = ["PASS", "FAIL", "WARN", "SKIP", "CheckResult", "run_checks", "render_table",
           "render_fixes"]

PASS, FAIL, WARN, SKIP = "PASS", "FAIL", "WARN", "SKIP"
# What botocore accepts as a region name (it refuses anything else before any request).
_REGION_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
# The region an SQS queue URL names: sqs.REGION.amazonaws.com[.cn] or REGION.queue....
_QUEUE_HOST_REGION = re.compile(
    r"^(?:sqs\.([a-z]{2}(?:-[a-z]+)+-\d+)|([a-z]{2}(?:-[a-z]+)+-\d+)\.queue)\.amazonaws\.")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: its name, PASS/FAIL/WARN/SKIP, what was seen, and the fix when it failed.

    >>> CheckResult("queue exists", FAIL, "NonExistentQueue", "create the queue").failed
    True
    """

    name: str
    status: str
    detail: str = ""
    fix: str = ""

    @property
    def failed(self) -> bool:
        """True for FAIL (WARN and SKIP do not fail the run)."""
        return self.status == FAIL




def _error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    if response.get("Error"):
        return hide_credentials(f"{error_code(exc)}: {error_message(exc)}".strip(": "))
    return hide_credentials(f"{type(exc).__name__}: {exc}")





def _reachable(url: str, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to the URL's host and port opens, else the reason."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{parts.hostname}:{port}: {exc.strerror or exc}"


def run_checks(
    session: Any,
    options: AwsOptions,
    *,
    log_group: str | None = None,
    queue_url: str | None = None,
    instance: str | None = None,
    destination_arn: str | None = None,
    recent_minutes: int = 60,
    now: Callable[[], float] = time.time,
) -> Iterator[CheckResult]:
    """Run the checks in order, yielding each result as soon as it is known.

    ``log_group`` defaults to the instance's RDS log group when ``instance`` is given.
    """
    credentials = session.get_credentials()
    if credentials is None:
        yield CheckResult("AWS credentials", FAIL, "none found in the boto3 chain",
                          "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, pass --profile, "
                          "or run where an IAM role is attached")
        return
    yield CheckResult("AWS credentials", PASS, f"from {credentials.method}")
    region = region_of(options, session)
    if not region:
        yield CheckResult("region", FAIL, "no region configured",
                          "pass --region or set AWS_REGION (the region of the DB instance)")
        return
    if not _REGION_NAME.fullmatch(region):
        yield CheckResult("region", FAIL, f"{region!r} is not a region name",
                          "pass --region with the DB instance's region, e.g. eu-west-1 "
                          "(or fix AWS_REGION / AWS_DEFAULT_REGION / the profile's region)")
        return
    yield CheckResult("region", PASS, region)

    services = ["sts"] + (["logs"] if log_group or instance or destination_arn else []) + (
        ["rds"] if instance else []) + (["sqs"] if queue_url else [])
    clients = {name: client(session, name, options) for name in services}
    endpoints = sorted({c.meta.endpoint_url for c in clients.values()})
    unreachable = [reason for url in endpoints if (reason := _reachable(url))]
    if unreachable:
        yield CheckResult("endpoint reachable", FAIL, "; ".join(unreachable),
                          "check network, proxy and --endpoint-url; the region must be right")
        return
    yield CheckResult("endpoint reachable", PASS, ", ".join(
        urlsplit(u).netloc.rpartition("@")[2] for u in endpoints))  # no user:password@

    try:
        identity = clients["sts"].get_caller_identity()
    except Exception as exc:  # any failure here is the finding
        yield CheckResult("identity (sts:GetCallerIdentity)", FAIL, _error_text(exc),
                          "the credentials are invalid or expired: renew them "
                          "(aws sso login, new access key, or the role's session)")
        return
    yield CheckResult("identity (sts:GetCallerIdentity)", PASS,
                      f"{identity.get('Arn', '?')} (account {identity.get('Account', '?')})")

    target = None
    if instance:
        target_result, target = _check_instance(clients["rds"], instance)
        yield target_result
        if log_group is None and target is not None:
            log_group = target.log_group
        elif log_group is None:
            log_group = log_group_name(instance)
    if log_group:
        yield from _check_log_group(clients["logs"], log_group, recent_minutes, now, instance)
    if instance:
        if target is None:
            yield CheckResult("pgAudit configured", SKIP, "no DB instance to read")
        else:
            yield from _check_parameters(clients["rds"], target)
    if queue_url:
        yield from _check_queue(clients["sqs"], queue_url, region)
    if destination_arn:
        yield _check_subscriptions(clients["logs"], destination_arn, log_group)


def _check_subscriptions(logs: Any, destination_arn: str, group: str | None) -> CheckResult:
    """Whether the log group (or every RDS PostgreSQL group) sends to the destination."""
    name = "subscription filters"
    try:
        groups = [group] if group else rds_postgres_groups(logs)
        sending = {g: [f for f in logs.describe_subscription_filters(logGroupName=g).get(
            "subscriptionFilters", []) if f.get("destinationArn") == destination_arn]
            for g in groups}
        missing = [g for g in groups if not sending[g]]
        # Two filters of one group to one destination deliver every event twice.
        twice = {g: [str(f.get("filterName")) for f in found]
                 for g, found in sending.items() if len(found) > 1}
    except Exception as exc:
        fix = ("grant logs:DescribeSubscriptionFilters (see: pgaudit-parse iam-policy "
               "subscriber)" if is_denied(exc) else "check --destination-arn and --region")
        return CheckResult(name, FAIL, _error_text(exc), fix)
    if not groups:
        return CheckResult(name, WARN, "no RDS/Aurora PostgreSQL log group in the region",
                           "export the postgresql log first (pgaudit-parse rds setup)")
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more"
                                          if len(missing) > 3 else "")
        return CheckResult(name, FAIL, f"{len(missing)} of {len(groups)} log group(s) do not "
                           f"send to the destination: {shown}",
                           f"pgaudit-parse subscribe --destination-arn {destination_arn} --apply")
    if twice:
        first, names = next(iter(twice.items()))
        return CheckResult(name, WARN, f"{len(twice)} log group(s) send to the destination "
                           f"through two filters, so every event arrives twice: {first} "
                           f"({', '.join(names)})",
                           f"aws logs delete-subscription-filter --log-group-name {first} "
                           f"--filter-name {names[-1]}")
    return CheckResult(name, PASS, f"{len(groups)} log group(s) send to the destination")


def _check_instance(rds: Any, instance: str) -> tuple[CheckResult, Any]:
    name = "DB instance"
    try:
        target = read_target(rds, instance)
    except SetupError as exc:
        return CheckResult(name, FAIL, str(exc),
                           "check --instance and --region (aws rds describe-db-instances)"), None
    except Exception as exc:
        fix = ("grant rds:DescribeDBInstances to this identity" if is_denied(exc)
               else "check --instance and --region")
        return CheckResult(name, FAIL, _error_text(exc), fix), None
    where = f", cluster {target.target}" if target.scope == "cluster" else ""
    detail = f"{target.engine} {target.engine_version}, {target.status or 'unknown'}{where}"
    return CheckResult(name, PASS, detail), target


def _check_log_group(logs: Any, group: str, minutes: int, now: Callable[[], float],
                     instance: str | None = None) -> Iterator[CheckResult]:
    name = f"log group {group}"
    try:
        groups = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    except Exception as exc:
        fix = ("grant logs:DescribeLogGroups (see: pgaudit-parse iam-policy cloudwatch-reader)"
               if is_denied(exc) else "check --log-group and --region")
        yield CheckResult(name, FAIL, _error_text(exc), fix)
        return
    if not any(g.get("logGroupName") == group for g in groups):
        yield CheckResult(name, FAIL, "does not exist",
                          f"export the postgresql log (pgaudit-parse rds setup --instance "
                          f"{instance or 'NAME'} --apply); RDS creates the group at the first "
                          f"exported line" + ("" if instance else "; or fix --log-group"))
        for check in ("recent log events", "pgAudit lines in recent events"):
            yield CheckResult(check, SKIP, "no log group")
        return
    yield CheckResult(name, PASS, "exists")

    start = int((now() - minutes * 60) * 1000)
    try:
        recent = _first_events(logs, group, start, None)
    except Exception as exc:
        fix = ("grant logs:FilterLogEvents on the log group (pgaudit-parse iam-policy "
               "cloudwatch-reader)" if is_denied(exc) else "retry; check the log group")
        yield CheckResult("recent log events", FAIL, _error_text(exc), fix)
        yield CheckResult("pgAudit lines in recent events", SKIP, "cannot read events")
        return
    if not recent:
        yield CheckResult("recent log events", FAIL, f"none in the last {minutes} min",
                          "check that the instance is available and exports its postgresql "
                          "log; a reboot may be pending after rds setup")
        yield CheckResult("pgAudit lines in recent events", SKIP, "no recent events")
        return
    newest = max(e.get("timestamp", 0) for e in recent) / 1000
    yield CheckResult("recent log events", PASS,
                      f"newest {int(now() - newest)} s ago")
    audit = _first_events(logs, group, start, "AUDIT")
    if audit:
        yield CheckResult("pgAudit lines in recent events", PASS, "AUDIT lines present")
    else:
        yield CheckResult("pgAudit lines in recent events", WARN,
                          f"no AUDIT line in the last {minutes} min",
                          "pgAudit may not be loaded (reboot pending?) or pgaudit.log is "
                          "'none' with no object grants; see the pgAudit checks below")


def _first_events(logs: Any, group: str, start: int, pattern: str | None,
                  max_pages: int = 20) -> list[dict[str, Any]]:
    """Some events at or after ``start`` (FilterLogEvents may return empty pages first)."""
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start, "limit": 50}
    if pattern:
        kwargs["filterPattern"] = pattern
    for _ in range(max_pages):
        page = logs.filter_log_events(**kwargs)
        if page.get("events"):
            return list(page["events"])
        if not page.get("nextToken"):
            return []
        kwargs["nextToken"] = page["nextToken"]
    return []


def _check_parameters(rds: Any, target: Any) -> Iterator[CheckResult]:
    setup_fix = f"pgaudit-parse rds setup --instance {target.instance} --apply"
    if LOG_EXPORT in target.exports:
        yield CheckResult("postgresql log export", PASS, f"{target.scope} {target.target}")
    else:
        yield CheckResult("postgresql log export", FAIL,
                          f"{target.scope} {target.target} exports {list(target.exports)}",
                          setup_fix)
    group = target.group
    if not group:
        yield CheckResult("parameter group", FAIL, "none associated", setup_fix)
        return
    try:
        params = group_parameters(rds, target.scope, group)
    except Exception as exc:
        fix = ("grant rds:DescribeDBParameters" if is_denied(exc) else setup_fix)
        yield CheckResult(f"parameter group {group}", FAIL, _error_text(exc), fix)
        return

    # Aurora: a value set in the instance's own DB parameter group overrides the cluster's.
    source = {name: group for name in params}
    own = dict(target.members).get(target.instance, "") if target.scope == "cluster" else ""
    if own and not is_default_group(own):
        try:
            overrides = group_parameters(rds, "instance", own)
        except Exception as exc:
            fix = ("grant rds:DescribeDBParameters" if is_denied(exc) else setup_fix)
            yield CheckResult(f"parameter group {own}", FAIL, _error_text(exc), fix)
            return
        for name, param in overrides.items():
            if param.get("ParameterValue") is not None and param.get("Source", "user") == "user":
                params[name], source[name] = param, own

    def value(name: str) -> str:
        return str(params.get(name, {}).get("ParameterValue") or "").strip()

    preload = [lib.strip() for lib in value("shared_preload_libraries").split(",")]
    where = source.get("shared_preload_libraries", group)
    if "pgaudit" in preload:
        yield CheckResult("pgaudit in shared_preload_libraries", PASS, f"{where}")
    else:
        yield CheckResult("pgaudit in shared_preload_libraries", FAIL,
                          f"{where}: {value('shared_preload_libraries') or '(unset)'}",
                          setup_fix + " (then reboot)")
    log, role = value("pgaudit.log"), value("pgaudit.role")
    if log and log.lower() != "none":
        yield CheckResult("pgaudit.log set", PASS, f"pgaudit.log={log} (session auditing)")
    elif role:
        yield CheckResult("pgaudit.log set", PASS,
                          f"pgaudit.log={log or '(unset)'}, pgaudit.role={role} (object auditing)")
    else:
        yield CheckResult("pgaudit.log set", FAIL,
                          f"pgaudit.log={log or '(unset)'}, pgaudit.role unset",
                          setup_fix + " (or --mode object)")
    if target.pending_reboot:
        yield CheckResult("parameters applied", FAIL, "pending-reboot",
                          f"aws rds reboot-db-instance --db-instance-identifier {target.instance}")
    else:
        yield CheckResult("parameters applied", PASS, "in-sync")


def _check_queue(sqs: Any, url: str, region: str) -> Iterator[CheckResult]:
    named = _QUEUE_HOST_REGION.match(urlsplit(url).netloc.rpartition("@")[2].lower())
    queue_region = (named.group(1) or named.group(2)) if named else None
    if queue_region and queue_region != region:
        # SQS answers "does not exist" for a queue of another region.
        yield CheckResult("queue exists", FAIL,
                          f"the queue URL is in {queue_region}, the region is {region}",
                          f"pass --region {queue_region} (a queue is read in its own region)")
        yield CheckResult("queue readable", SKIP, "no queue")
        return
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    except Exception as exc:
        if is_denied(exc):
            fix = "grant sqs:GetQueueAttributes (see: pgaudit-parse iam-policy consumer)"
        else:
            fix = "create the queue or fix --queue-url (aws sqs get-queue-url --queue-name NAME)"
        yield CheckResult("queue exists", FAIL, _error_text(exc), fix)
        yield CheckResult("queue readable", SKIP, "no queue")
        return
    yield CheckResult("queue exists", PASS,
                      f"{attrs.get('ApproximateNumberOfMessages', '?')} waiting, "
                      f"{attrs.get('ApproximateNumberOfMessagesNotVisible', '?')} in flight")
    if "RedrivePolicy" in attrs:
        # A receive counts toward maxReceiveCount; do not push a message to the DLQ.
        yield CheckResult("queue readable", SKIP,
                          "has a redrive policy: not receiving (it would count a receive)")
        return
    try:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0,
                            WaitTimeSeconds=0)
    except Exception as exc:
        fix = ("grant sqs:ReceiveMessage (see: pgaudit-parse iam-policy consumer)"
               if is_denied(exc) else "check the queue's policy and KMS key")
        yield CheckResult("queue readable", FAIL, _error_text(exc), fix)
        return
    yield CheckResult("queue readable", PASS, "sqs:ReceiveMessage allowed (nothing hidden)")


def render_table(results: list[CheckResult]) -> str:
    """The results as an aligned table: number, check, result, detail."""
    rows = [(str(i), r.name, r.status, r.detail) for i, r in enumerate(results, 1)]
    header = ("#", "check", "result", "detail")
    widths = [max(len(row[col]) for row in [header, *rows]) for col in range(3)]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].rjust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2])]
        lines.append((" " + "  ".join(cells) + "  " + row[3]).rstrip())
    return "\n".join(lines) + "\n"


def render_fixes(results: list[CheckResult]) -> str:
    """For each failed or warned check, its number, name and fix; empty when all passed."""
    lines = [f" {i}. {r.name}: {r.fix}" for i, r in enumerate(results, 1)
             if r.status in (FAIL, WARN) and r.fix]
    return ("How to fix:\n" + "\n".join(lines) + "\n") if lines else ""

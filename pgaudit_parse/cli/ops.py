"""The ``rds``, ``iam-policy`` and ``doctor`` subcommands: thin argparse shells.

The AWS modules are imported only by the commands that talk to AWS: ``iam-policy``
works without boto3. Each ``*_main`` takes the arguments after the subcommand word and
returns an exit code: 0 done, 1 doctor found a failure, 2 usage error, unreadable input
or an AWS error (one line on stderr naming the cause, never a traceback, never
credentials).

>>> iam_policy_main(["consumer", "--queue-arn", "arn:aws:sqs:eu-west-1:123456789012:q"])
... # doctest: +ELLIPSIS
{
  "Version": "2012-10-17",
...
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..ops import iam_policy
from .common import PROG, account_id, fail, make_parser, positive_int, region_name

__all__ = ["rds_main", "iam_policy_main", "doctor_main", "subscribe_main"]


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """Parse, turning argparse's exits (usage errors, --help) into exit codes."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def _run_aws(doing: str, action: Callable[[], int]) -> int:
    from ..aws.errors import AwsSetupError, explain
    from ..ops import rds_setup

    try:
        return action()
    except AwsSetupError as exc:
        return fail(str(exc))
    except rds_setup.SetupError as exc:
        return fail(f"{doing}: {exc}")
    except Exception as exc:  # botocore's many exceptions: one line, no traceback
        if type(exc).__module__.startswith(("botocore", "boto3")):
            return fail(explain(exc, doing))
        raise


# ---------------------------------------------------------------- rds setup


def _rds_parser() -> argparse.ArgumentParser:
    from ..ops.aws import add_aws_arguments

    parser = make_parser(f"{PROG} rds",
                         "Configure an RDS/Aurora PostgreSQL instance for pgAudit.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="setup")
    setup = actions.add_parser(
        "setup",
        help="parameter group + CloudWatch log export for pgAudit (plan; --apply to change)",
        description="Create or update the DB parameter group with the pgAudit settings, "
        "associate it, and export the postgresql log to CloudWatch Logs. Prints the plan "
        "and changes nothing unless --apply is given.",
    )
    setup.add_argument("--instance", required=True, metavar="NAME",
                       help="DB instance identifier")
    setup.add_argument("--parameter-group", metavar="NAME",
                       help="group to create or update (default: the instance's own "
                       "custom group, else pgaudit-INSTANCE)")
    setup.add_argument("--mode", choices=("session", "object"), default="session",
                       help="session: pgaudit.log=all,-misc; object: pgaudit.role=rds_pgaudit")
    setup.add_argument("--table", action="append", default=[], metavar="SCHEMA.TABLE",
                       help="table to audit in object mode (used in the printed GRANT)")
    setup.add_argument("--apply", action="store_true", help="make the changes")
    add_aws_arguments(setup)
    return parser


def rds_main(argv: list[str]) -> int:
    """``pgaudit-parse rds setup --instance NAME [--parameter-group NAME]
    [--mode session|object] [--apply]``."""
    args = _parse(_rds_parser(), argv)
    if isinstance(args, int):
        return args
    from ..ops import rds_setup
    from ..ops.aws import aws_options, client, make_session

    out = sys.stdout

    def run() -> int:
        options = aws_options(args)
        rds = client(make_session(options), "rds", options)
        plan = rds_setup.plan_setup(rds, args.instance, parameter_group=args.parameter_group,
                                    mode=args.mode)
        out.write(rds_setup.render_plan(plan))
        applied = bool(args.apply and plan.has_changes)
        if applied and plan.has_changes:
            done = rds_setup.apply_setup(rds, plan)
            out.write("Applied:\n" + "".join(f"  - {line}\n" for line in done))
            after = rds_setup.read_target(rds, plan.instance)
            if after.pending_reboot:
                out.write(f"RDS reports the parameter group as pending-reboot on "
                          f"{plan.instance}.\n")
        elif plan.has_changes:
            out.write("Dry run: nothing was changed. Re-run with --apply to make these "
                      "changes.\n")
        notice = rds_setup.reboot_notice(plan, applied)
        if notice:
            out.write(notice)
        out.write("\nThen, connected as the master user, run in each database to audit:\n")
        out.write(rds_setup.object_audit_sql(args.mode, args.table))
        out.flush()
        return 0

    return _run_aws(f"setting up DB instance {args.instance}", run)


# ---------------------------------------------------------------- iam-policy


def _iam_parser() -> argparse.ArgumentParser:
    parser = make_parser(f"{PROG} iam-policy",
                         "Print a least-privilege IAM policy (JSON) for one pgaudit-parse role.")
    parser.add_argument("role", choices=iam_policy.ROLES,
                        help="forwarder: CloudWatch -> SQS; consumer: SQS -> records; "
                        "cloudwatch-reader: reads the log group directly; subscriber: runs "
                        "subscribe; logs-to-firehose: the role CloudWatch Logs assumes; "
                        "firehose-transform: the firehose_handler Lambda; "
                        "subscription-handler: the subscription_handler Lambda; "
                        "rds-log-reader: runs rds-logs; rds-setup: runs rds setup; "
                        "doctor: runs doctor")
    parser.add_argument("--queue-arn", metavar="ARN",
                        help="the queue's ARN (forwarder, consumer)")
    parser.add_argument("--queue-url", metavar="URL",
                        help="the queue's URL: gives its ARN, region and account")
    parser.add_argument("--records-queue-arn", metavar="ARN",
                        help="the RECORDS_QUEUE's ARN (subscription-handler)")
    parser.add_argument("--log-group", metavar="NAME", help="the RDS log group (name or ARN), "
                        "e.g. /aws/rds/instance/db1/postgresql (forwarder, cloudwatch-reader, "
                        "doctor; default with --instance: its log group)")
    parser.add_argument("--instance", metavar="NAME",
                        help="the DB instance (rds-log-reader, rds-setup, doctor)")
    parser.add_argument("--parameter-group", metavar="NAME",
                        help="the parameter group rds setup may change (rds-setup; default: "
                        "any, as rds setup picks the instance's own)")
    parser.add_argument("--parameter-name", default=iam_policy.DEFAULT_PARAMETER_NAME,
                        metavar="NAME",
                        help="the forwarder's SSM checkpoint parameter (default %(default)s)")
    parser.add_argument("--lambda-function", metavar="NAME",
                        help="also let the Lambda NAME write its own logs")
    parser.add_argument("--destination-arn", metavar="ARN",
                        help="the Lambda or Firehose ARN (subscriber, logs-to-firehose, "
                        "firehose-transform)")
    parser.add_argument("--role-arn", metavar="ARN",
                        help="the role CloudWatch Logs assumes for Firehose (subscriber)")
    parser.add_argument("--region", metavar="REGION", type=region_name,
                        help="region in the ARNs (default: the --queue-url's, else "
                        "placeholder REGION)")
    parser.add_argument("--account-id", metavar="ID", type=account_id,
                        help="account in the ARNs (default: the --queue-url's, else "
                        "placeholder ACCOUNT_ID)")
    parser.add_argument("--partition", metavar="NAME",
                        help="ARN partition (default: the region's, e.g. aws, aws-cn, "
                        "aws-us-gov)")
    return parser


def iam_policy_main(argv: list[str]) -> int:
    """``pgaudit-parse iam-policy forwarder|consumer|cloudwatch-reader [--queue-arn ARN]
    [--log-group NAME]``: the policy JSON on stdout, placeholders named on stderr."""
    args = _parse(_iam_parser(), argv)
    if isinstance(args, int):
        return args
    queue_arn = args.queue_arn
    if queue_arn is None and args.queue_url:
        try:
            queue_arn = iam_policy.queue_arn_from_url(args.queue_url, args.region,
                                                      args.partition)
        except ValueError as exc:
            return fail(f"iam-policy: {exc}")
    # The queue names the region and account of the whole deployment (unless given).
    queue_region, queue_account = (iam_policy.region_and_account(queue_arn) if queue_arn
                                   else (None, None))
    try:
        policy = iam_policy.build_policy(
            args.role, log_group=args.log_group, queue_arn=queue_arn,
            parameter_name=args.parameter_name, lambda_function=args.lambda_function,
            destination_arn=args.destination_arn, role_arn=args.role_arn,
            region=args.region or queue_region, account_id=args.account_id or queue_account,
            partition=args.partition, instance=args.instance,
            records_queue_arn=args.records_queue_arn, parameter_group=args.parameter_group,
        )
    except ValueError as exc:
        return fail(f"iam-policy: {exc}")
    sys.stdout.write(iam_policy.render_policy(policy))
    left = iam_policy.placeholders_in(policy)
    if left:
        options = ", ".join(iam_policy.filled_by(args.role, left))
        sys.stderr.write(f"{PROG}: iam-policy: replace the placeholders {', '.join(left)} "
                         f"(or pass {options})\n")
    return 0


# ---------------------------------------------------------------- doctor


def _doctor_parser() -> argparse.ArgumentParser:
    from ..ops.aws import add_aws_arguments

    parser = make_parser(f"{PROG} doctor",
                         "Check credentials, endpoint, log group, pgAudit settings and queue; "
                         "print a pass/fail table with the fix for each failure.")
    parser.add_argument("--log-group", metavar="NAME",
                        help="CloudWatch log group (default with --instance: "
                        "/aws/rds/instance/INSTANCE/postgresql)")
    parser.add_argument("--queue-url", metavar="URL", help="SQS queue URL to check")
    parser.add_argument("--instance", metavar="NAME", help="DB instance identifier to check")
    parser.add_argument("--destination-arn", metavar="ARN",
                        help="check that the log group (or every RDS PostgreSQL group) has a "
                        "subscription filter to this Lambda or Firehose ARN")
    parser.add_argument("--recent-minutes", type=positive_int, default=60, metavar="N",
                        help="how far back counts as recent (default %(default)s)")
    add_aws_arguments(parser)
    return parser


def doctor_main(argv: list[str]) -> int:
    """``pgaudit-parse doctor [--log-group NAME] [--queue-url URL] [--instance NAME]``:
    exit 0 when every check passed (warnings allowed), 1 when one failed."""
    from ..ops import doctor
    from ..ops.aws import aws_options, make_session

    args = _parse(_doctor_parser(), argv)
    if isinstance(args, int):
        return args

    def run() -> int:
        options = aws_options(args)
        results: list[doctor.CheckResult] = list(doctor.run_checks(
            make_session(options), options, log_group=args.log_group,
            queue_url=args.queue_url, instance=args.instance,
            destination_arn=args.destination_arn, recent_minutes=args.recent_minutes,
        ))
        sys.stdout.write(doctor.render_table(results))
        failed = sum(r.failed for r in results)
        fixes = doctor.render_fixes(results)
        if fixes:
            sys.stdout.write("\n" + fixes)
        sys.stdout.write(f"\n{failed} of {len(results)} checks failed.\n" if failed
                         else f"\nAll {len(results)} checks passed.\n")
        return 1 if failed else 0

    return _run_aws("running doctor", run)


# ---------------------------------------------------------------- subscribe


def _subscribe_parser() -> argparse.ArgumentParser:
    from ..ops import subscribe
    from ..ops.aws import add_aws_arguments

    parser = make_parser(
        f"{PROG} subscribe",
        "Put a CloudWatch Logs subscription filter on every RDS/Aurora PostgreSQL log group "
        "of the region (or those named), sending to the subscription_handler Lambda or a "
        "Firehose delivery stream. Prints the plan; changes nothing without --apply.")
    parser.add_argument("--destination-arn", required=True, metavar="ARN",
                        help="Lambda function ARN or Firehose delivery stream ARN")
    parser.add_argument("--role-arn", metavar="ARN",
                        help="role CloudWatch Logs assumes to put into Firehose (needed for a "
                        "Firehose destination; policy: iam-policy logs-to-firehose)")
    parser.add_argument("--log-group", action="append", default=[], metavar="NAME",
                        help="only this log group (repeatable; default: every "
                        "/aws/rds/instance|cluster/*/postgresql group)")
    parser.add_argument("--filter-name", default=subscribe.DEFAULT_FILTER_NAME, metavar="NAME",
                        help="name of our filter on each group (default %(default)s)")
    parser.add_argument("--filter-pattern", default="", metavar="PATTERN",
                        help="CloudWatch Logs filter pattern (default: every event)")
    parser.add_argument("--apply", action="store_true", help="make the changes")
    add_aws_arguments(parser)
    return parser


def subscribe_main(argv: list[str]) -> int:
    """``pgaudit-parse subscribe --destination-arn ARN [--role-arn ARN] [--log-group NAME]
    [--apply]``: the plan (and with --apply the changes) on stdout."""
    from ..ops import subscribe
    from ..ops.aws import aws_options, client, make_session

    args = _parse(_subscribe_parser(), argv)
    if isinstance(args, int):
        return args
    out = sys.stdout

    def run() -> int:
        try:
            service = subscribe.destination_service(args.destination_arn)
        except subscribe.SubscribeError as exc:
            return fail(f"subscribe: {exc}")
        options = aws_options(args)
        session = make_session(options)
        logs = client(session, "logs", options)
        lambda_client = client(session, "lambda", options) if service == "lambda" else None
        parts = args.destination_arn.split(":")
        region, account = parts[3], parts[4]
        try:
            plan = subscribe.plan_subscriptions(
                logs, args.destination_arn, role_arn=args.role_arn,
                filter_name=args.filter_name, filter_pattern=args.filter_pattern,
                groups=args.log_group, lambda_client=lambda_client, region=region,
                account=account)
        except subscribe.SubscribeError as exc:
            return fail(f"subscribe: {exc}")
        out.write(subscribe.render_plan(plan))
        if not plan.has_changes:
            out.write("Nothing to change.\n")
        elif args.apply:
            done = subscribe.apply_subscriptions(logs, plan, lambda_client=lambda_client,
                                                 region=region, account=account,
                                                 partition=parts[1])
            out.write("Applied:\n" + "".join(f"  - {line}\n" for line in done))
        else:
            out.write("Dry run: nothing was changed. Re-run with --apply to make these "
                      "changes.\n")
        blocked = [c.group for c in plan.changes if c.action == "blocked"]
        if blocked:
            out.write(f"{len(blocked)} log group(s) already have {subscribe.FILTERS_PER_GROUP} "
                      "subscription filters: remove one, or send one of them to us.\n")
        out.flush()
        return 0

    return _run_aws("subscribing log groups", run)

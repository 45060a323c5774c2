"""``pgaudit-parse rds setup`` against moto's RDS over HTTP."""

from __future__ import annotations

import pytest
from ops_moto import Aws

from pgaudit_parse.cli import main
from pgaudit_parse.ops.rds_setup import desired_parameters, parameter_family

SESSION_VALUES = {
    "shared_preload_libraries": "pgaudit",
    "pgaudit.log": "all,-misc",
    "pgaudit.log_catalog": "0",
    "pgaudit.log_parameter": "0",
    "log_error_verbosity": "default",
}


def _instance(aws: Aws, name: str) -> dict:
    return aws.client("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]


def _group_names(aws: Aws) -> set[str]:
    groups = aws.client("rds").describe_db_parameter_groups()["DBParameterGroups"]
    return {g["DBParameterGroupName"] for g in groups}


def test_dry_run_prints_the_plan_and_changes_nothing(aws: Aws, capsys) -> None:
    aws.create_instance("db1")
    before = _group_names(aws)

    assert main(["rds", "setup", "--instance", "db1", *aws.args()]) == 0

    out = capsys.readouterr().out
    assert "create DB parameter group pgaudit-db1 (family postgres15)" in out
    assert "pgaudit.log: (unset) -> all,-misc (immediate)" in out
    assert "shared_preload_libraries: (unset) -> pgaudit (pending-reboot)" in out
    assert "export the postgresql log of instance db1" in out
    assert "Dry run: nothing was changed" in out
    assert "After --apply, a reboot is needed" in out
    assert _group_names(aws) == before
    db = _instance(aws, "db1")
    assert db["DBParameterGroups"][0]["DBParameterGroupName"] == "default.postgres15"
    assert "postgresql" not in db.get("EnabledCloudwatchLogsExports", [])


def test_apply_session_mode_configures_group_instance_and_log_export(aws: Aws, capsys) -> None:
    aws.create_instance("db1")

    assert main(["rds", "setup", "--instance", "db1", "--apply", *aws.args()]) == 0

    out = capsys.readouterr().out
    assert "Applied:" in out and "Reboot pending" in out
    assert "aws rds reboot-db-instance --db-instance-identifier db1" in out
    assert "CREATE EXTENSION IF NOT EXISTS pgaudit;" in out
    assert "CREATE ROLE" not in out
    group = aws.client("rds").describe_db_parameter_groups(
        DBParameterGroupName="pgaudit-db1")["DBParameterGroups"][0]
    assert group["DBParameterGroupFamily"] == "postgres15"
    assert aws.parameters("pgaudit-db1") == SESSION_VALUES
    db = _instance(aws, "db1")
    assert db["DBParameterGroups"][0]["DBParameterGroupName"] == "pgaudit-db1"
    assert db["EnabledCloudwatchLogsExports"] == ["postgresql"]

    # A second run finds nothing to do and changes nothing.
    assert main(["rds", "setup", "--instance", "db1", "--apply", *aws.args()]) == 0
    again = capsys.readouterr().out
    assert "nothing to change" in again and "Applied:" not in again
    assert _instance(aws, "db1")["EnabledCloudwatchLogsExports"] == ["postgresql"]


def test_object_mode_sets_the_audit_role_and_prints_grants(aws: Aws, capsys) -> None:
    aws.create_instance("db2")
    argv = ["rds", "setup", "--instance", "db2", "--mode", "object", "--table",
            "public.orders", "--table", 'sales."Q1 totals"', "--table", "odd name",
            "--apply", *aws.args()]

    assert main(argv) == 0

    out = capsys.readouterr().out
    params = aws.parameters("pgaudit-db2")
    assert params["pgaudit.role"] == "rds_pgaudit"
    assert params["pgaudit.log"] == "none"
    assert "CREATE ROLE rds_pgaudit;" in out
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON public.orders TO rds_pgaudit;" in out
    assert 'ON sales."Q1 totals" TO rds_pgaudit;' in out
    assert 'ON "odd name" TO rds_pgaudit;' in out


def test_updates_the_instances_own_group_and_keeps_its_libraries(aws: Aws, capsys) -> None:
    rds = aws.client("rds")
    rds.create_db_parameter_group(DBParameterGroupName="custom15", DBParameterGroupFamily=
                                  "postgres15", Description="existing")
    rds.modify_db_parameter_group(DBParameterGroupName="custom15", Parameters=[
        {"ParameterName": "shared_preload_libraries", "ParameterValue": "pg_stat_statements",
         "ApplyMethod": "pending-reboot"},
        {"ParameterName": "pgaudit.log_catalog", "ParameterValue": "off",
         "ApplyMethod": "immediate"},
    ])
    aws.create_instance("db3", DBParameterGroupName="custom15")

    assert main(["rds", "setup", "--instance", "db3", "--apply", *aws.args()]) == 0

    out = capsys.readouterr().out
    assert "create DB parameter group" not in out
    assert "pgaudit.log_catalog" not in out  # "off" already means 0
    params = aws.parameters("custom15")
    assert params["shared_preload_libraries"] == "pg_stat_statements,pgaudit"
    assert params["pgaudit.log"] == "all,-misc"
    assert "pgaudit-db3" not in _group_names(aws)


def test_family_follows_the_engine_version(aws: Aws, capsys) -> None:
    aws.create_instance("old", version="9.6.22")

    assert main(["rds", "setup", "--instance", "old", "--apply", *aws.args()]) == 0

    group = aws.client("rds").describe_db_parameter_groups(
        DBParameterGroupName="pgaudit-old")["DBParameterGroups"][0]
    assert group["DBParameterGroupFamily"] == "postgres9.6"
    assert parameter_family("postgres", "16.2") == "postgres16"
    assert parameter_family("aurora-postgresql", "14.9") == "aurora-postgresql14"


def test_named_group_of_another_family_is_refused(aws: Aws, capsys) -> None:
    aws.client("rds").create_db_parameter_group(
        DBParameterGroupName="pg14group", DBParameterGroupFamily="postgres14", Description="x")
    aws.create_instance("db4")

    code = main(["rds", "setup", "--instance", "db4", "--parameter-group", "pg14group",
                 "--apply", *aws.args()])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "family postgres14" in err and "postgres15" in err
    assert aws.parameters("pg14group") == {}


def test_aurora_instance_is_set_up_through_its_cluster(aws: Aws, capsys) -> None:
    rds = aws.client("rds")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="aurora-audit", DBParameterGroupFamily="aurora-postgresql15",
        Description="cluster group")
    rds.create_db_cluster(DBClusterIdentifier="aur", Engine="aurora-postgresql",
                          EngineVersion="15.4", MasterUsername="master",
                          MasterUserPassword="not-a-real-password",
                          DBClusterParameterGroupName="aurora-audit")
    rds.create_db_instance(DBInstanceIdentifier="aur-a", DBClusterIdentifier="aur",
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")

    assert main(["rds", "setup", "--instance", "aur-a", "--apply", *aws.args()]) == 0

    out = capsys.readouterr().out
    assert "set parameters in aurora-audit" in out
    assert "/aws/rds/cluster/aur/postgresql" in out
    params = rds.describe_db_cluster_parameters(
        DBClusterParameterGroupName="aurora-audit")["Parameters"]
    values = {p["ParameterName"]: p["ParameterValue"] for p in params}
    assert values == SESSION_VALUES


def test_missing_instance_is_one_line_exit_2(aws: Aws, capsys) -> None:
    assert main(["rds", "setup", "--instance", "nope", *aws.args()]) == 2
    err = capsys.readouterr().err
    assert err == "pgaudit-parse: setting up DB instance nope: DB instance 'nope' not found\n"


def test_unreachable_endpoint_is_one_line_exit_2(aws: Aws, capsys) -> None:
    from pgserver import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["rds", "setup", "--instance", "db1", "--endpoint-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgaudit-parse: cannot reach the AWS endpoint")
    assert err.count("\n") == 1 and "testing" not in err


def test_profile_from_the_shared_config(aws: Aws, aws_env, monkeypatch, capsys) -> None:
    aws.create_instance("db5")
    aws_env.write_text("[profile audit]\nregion = eu-west-1\n"
                       "aws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    assert main(["rds", "setup", "--instance", "db5", "--profile", "audit",
                 "--endpoint-url", aws.url]) == 0
    assert "Plan for DB instance db5" in capsys.readouterr().out

    assert main(["rds", "setup", "--instance", "db5", "--profile", "nobody",
                 "--endpoint-url", aws.url]) == 2
    assert capsys.readouterr().err == (
        "pgaudit-parse: profile 'nobody' not found in the AWS config\n")


def test_usage_errors_exit_2(capsys) -> None:
    assert main(["rds", "setup"]) == 2
    assert main(["rds", "setup", "--instance", "x", "--mode", "both"]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["session", "object"])
def test_desired_parameters_follow_the_seed_guide(mode: str) -> None:
    values = desired_parameters(mode, None)
    assert values["pgaudit.log_catalog"] == values["pgaudit.log_parameter"] == "0"
    assert values["log_error_verbosity"] == "default"
    assert values["shared_preload_libraries"] == "pgaudit"
    assert (values.get("pgaudit.role") == "rds_pgaudit") == (mode == "object")
    assert desired_parameters(mode, "pgaudit, pg_stat_statements")[
        "shared_preload_libraries"] == "pgaudit,pg_stat_statements"


@pytest.mark.pg
def test_printed_sql_enables_object_auditing_on_a_real_server(tmp_path) -> None:
    """The SQL rds setup prints, run on PostgreSQL 15 + pgAudit with the object-mode
    parameters, makes pgAudit write OBJECT lines for the granted table and only for it."""
    from pgserver import PgServer

    from pgaudit_parse import AuditEvent, parse_file
    from pgaudit_parse.ops.rds_setup import object_audit_sql

    # The very values rds setup writes to the parameter group ("0", "default", ...).
    settings = {**desired_parameters("object", None), "log_line_prefix": "%t:%r:%u@%d:[%p]:"}
    with PgServer(settings=settings) as pg:
        pg.run_sql("CREATE TABLE public.orders (id int); CREATE TABLE public.other (id int);")
        pg.run_sql(object_audit_sql("object", ["public.orders"]))
        pg.run_sql("INSERT INTO orders VALUES (1); SELECT * FROM orders; "
                   "SELECT * FROM other;")
        pg.stop()
        log = tmp_path / "postgresql.log"
        log.write_bytes(pg.stderr_log_path.read_bytes())
    audits = [e for e in parse_file(str(log)) if isinstance(e, AuditEvent)]
    assert {(e.audit.audit_type, e.audit.command, e.audit.object_name) for e in audits} == {
        ("OBJECT", "INSERT", "public.orders"), ("OBJECT", "SELECT", "public.orders")}

"""``rds setup`` edge cases against moto's RDS over HTTP: identifiers as RDS stores them,
groups that cannot be modified, a plan that converges after ``--apply``, printed SQL that
runs as printed in every database."""

from __future__ import annotations

import pytest
from ops_moto import Aws

from pgaudit_parse.cli import main
from pgaudit_parse.ops.rds_setup import desired_parameters, object_audit_sql


def _group_names(aws: Aws) -> set[str]:
    groups = aws.client("rds").describe_db_parameter_groups()["DBParameterGroups"]
    return {g["DBParameterGroupName"] for g in groups}


def _one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_instance_name_is_refused_not_read_as_every_instance(
        aws: Aws, capsys, name: str) -> None:
    """DescribeDBInstances without an identifier lists every instance: an empty name
    must not set up whichever instance comes first."""
    aws.create_instance("other")
    before = _group_names(aws)

    err = _one_line_error(capsys, ["rds", "setup", "--instance", name, "--apply", *aws.args()])

    assert "other" not in err
    assert _group_names(aws) == before
    db = aws.client("rds").describe_db_instances(DBInstanceIdentifier="other")["DBInstances"][0]
    assert "postgresql" not in db.get("EnabledCloudwatchLogsExports", [])


def test_instance_names_are_case_insensitive_as_in_rds(aws: Aws, capsys) -> None:
    """RDS stores identifiers in lower case and finds them in any case; the log group and
    the reboot command must name the instance as RDS does (log groups are case-sensitive)."""
    aws.create_instance("Audit-Db1")

    assert main(["rds", "setup", "--instance", "AUDIT-DB1", *aws.args()]) == 0

    out = capsys.readouterr().out
    assert "/aws/rds/instance/audit-db1/postgresql" in out
    assert "--db-instance-identifier audit-db1" in out
    assert "AUDIT-DB1" not in out and "pgaudit-audit-db1" in out


def test_a_mixed_case_group_name_converges_after_apply(aws: Aws, capsys) -> None:
    """RDS stores group names in lower case: the plan after --apply has nothing left."""
    aws.create_instance("db1")
    argv = ["rds", "setup", "--instance", "db1", "--parameter-group", "MyAudit", *aws.args()]

    assert main([*argv, "--apply"]) == 0
    capsys.readouterr()
    assert main(argv) == 0

    out = capsys.readouterr().out
    assert "nothing to change: myaudit is configured" in out, out
    assert "Dry run" not in out


@pytest.mark.parametrize("group", ["default.postgres15", "Default.Postgres15"])
def test_a_default_group_is_never_modified(aws: Aws, capsys, group: str) -> None:
    aws.create_instance("db1")
    before = aws.parameters("default.postgres15")

    err = _one_line_error(capsys, ["rds", "setup", "--instance", "db1", "--parameter-group",
                                   group, "--apply", *aws.args()])

    assert "default" in err and "cannot be modified" in err
    assert aws.parameters("default.postgres15") == before
    db = aws.client("rds").describe_db_instances(DBInstanceIdentifier="db1")["DBInstances"][0]
    assert "postgresql" not in db.get("EnabledCloudwatchLogsExports", [])


def test_a_default_cluster_group_is_never_modified(aws: Aws, capsys) -> None:
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="aur", Engine="aurora-postgresql",
                          EngineVersion="15.4", MasterUsername="master",
                          MasterUserPassword="not-a-real-password")
    rds.create_db_instance(DBInstanceIdentifier="aur-a", DBClusterIdentifier="aur",
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")

    err = _one_line_error(capsys, ["rds", "setup", "--instance", "aur-a", "--parameter-group",
                                   "default.aurora-postgresql15", "--apply", *aws.args()])

    assert "cannot be modified" in err
    groups = rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]
    assert "default.aurora-postgresql15" not in {g["DBClusterParameterGroupName"]
                                                 for g in groups}


@pytest.mark.parametrize("group", ["audit_group", "1audit", "audit-", "audit--group",
                                   "a" * 256, "audit group"])
def test_a_group_name_rds_would_refuse_is_refused_before_any_change(
        aws: Aws, capsys, group: str) -> None:
    aws.create_instance("db1")
    before = _group_names(aws)

    err = _one_line_error(capsys, ["rds", "setup", "--instance", "db1", "--parameter-group",
                                   group, "--apply", *aws.args()])

    assert "parameter group name" in err
    assert _group_names(aws) == before


def test_a_cluster_identifier_names_its_instances(aws: Aws, capsys) -> None:
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="aur", Engine="aurora-postgresql",
                          EngineVersion="15.4", MasterUsername="master",
                          MasterUserPassword="not-a-real-password")
    rds.create_db_instance(DBInstanceIdentifier="aur-a", DBClusterIdentifier="aur",
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")

    err = _one_line_error(capsys, ["rds", "setup", "--instance", "aur", *aws.args()])

    assert "Aurora cluster" in err and "aur-a" in err


@pytest.mark.parametrize("loaded", ["pgaudit,pg_stat_statements,pgaudit",
                                    "pg_stat_statements, pgaudit ,pg_stat_statements",
                                    "pg_stat_statements,,pgaudit"])
def test_preload_keeps_each_library_once(loaded: str) -> None:
    libraries = desired_parameters("session", loaded)["shared_preload_libraries"].split(",")
    assert libraries.count("pgaudit") == 1
    assert libraries.count("pg_stat_statements") == 1
    assert "" not in libraries


def test_an_existing_group_with_pgaudit_twice_is_cleaned(aws: Aws, capsys) -> None:
    rds = aws.client("rds")
    rds.create_db_parameter_group(DBParameterGroupName="custom", DBParameterGroupFamily=
                                  "postgres15", Description="existing")
    rds.modify_db_parameter_group(DBParameterGroupName="custom", Parameters=[
        {"ParameterName": "shared_preload_libraries",
         "ParameterValue": "pgaudit,pg_stat_statements,pgaudit",
         "ApplyMethod": "pending-reboot"}])
    aws.create_instance("db1", DBParameterGroupName="custom")

    assert main(["rds", "setup", "--instance", "db1", "--apply", *aws.args()]) == 0

    assert aws.parameters("custom")["shared_preload_libraries"] == "pgaudit,pg_stat_statements"


@pytest.mark.parametrize("relation, expected", [
    ('weird"name', '"weird""name"'),
    ('sales."Q1', '"sales.""Q1"'),
    ("a..b", '"a..b"'),
    ("public.orders", "public.orders"),
    ('"My Schema"."My Table"', '"My Schema"."My Table"'),
])
def test_a_table_name_is_never_changed_into_another_relation(relation: str,
                                                             expected: str) -> None:
    """A name that is not plain identifiers and quoted parts joined by dots is quoted
    whole: no character is dropped and no dot is invented."""
    sql = object_audit_sql("object", [relation])
    assert f" ON {expected} TO rds_pgaudit;" in sql, sql


@pytest.mark.pg
def test_printed_sql_runs_in_every_database_and_twice(tmp_path) -> None:
    """rds setup says to run its SQL in each database to audit: the role is cluster-wide,
    so the second database (and a second run) must not fail on CREATE ROLE."""
    from pgserver import PgServer

    settings = {**desired_parameters("object", None), "log_line_prefix": "%t:%r:%u@%d:[%p]:"}
    sql = "\\set ON_ERROR_STOP 1\n" + object_audit_sql("object", ["public.orders"])
    with PgServer(settings=settings) as pg:
        pg.run_sql("CREATE DATABASE shop; CREATE TABLE public.orders (id int);")
        pg.run_sql("CREATE TABLE public.orders (id int);", database="shop")
        for database in ("postgres", "shop", "shop"):
            result = pg.run_sql(sql, database=database)
            assert result.returncode == 0, (database, result.stderr)
        granted = pg.run_sql("SELECT count(*) FROM information_schema.role_table_grants "
                             "WHERE grantee = 'rds_pgaudit'", database="shop")
        assert "4" in granted.stdout


def test_aurora_instance_group_values_that_override_the_cluster_are_set_too(
        aws: Aws, capsys) -> None:
    """In Aurora a value set in an instance's DB parameter group overrides the cluster
    group's: a member whose group loads only pg_stat_statements would run without pgAudit
    although the cluster group is right. The plan covers it, and converges after --apply."""
    rds = aws.client("rds")
    rds.create_db_parameter_group(DBParameterGroupName="aur-inst", DBParameterGroupFamily=
                                  "aurora-postgresql15", Description="instance group")
    rds.modify_db_parameter_group(DBParameterGroupName="aur-inst", Parameters=[
        {"ParameterName": "shared_preload_libraries", "ParameterValue": "pg_stat_statements",
         "ApplyMethod": "pending-reboot"},
        {"ParameterName": "pgaudit.log", "ParameterValue": "ddl", "ApplyMethod": "immediate"},
        {"ParameterName": "work_mem", "ParameterValue": "8192", "ApplyMethod": "immediate"}])
    rds.create_db_cluster(DBClusterIdentifier="aur", Engine="aurora-postgresql",
                          EngineVersion="15.4", MasterUsername="master",
                          MasterUserPassword="not-a-real-password")
    rds.create_db_instance(DBInstanceIdentifier="aur-a", DBClusterIdentifier="aur",
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
    rds.create_db_instance(DBInstanceIdentifier="aur-b", DBClusterIdentifier="aur",
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large",
                           DBParameterGroupName="aur-inst")

    assert main(["rds", "setup", "--instance", "aur-a", *aws.args()]) == 0
    plan = capsys.readouterr().out
    assert "aur-inst" in plan and "aur-b" in plan, plan
    assert "pgaudit.log: ddl -> all,-misc" in plan

    assert main(["rds", "setup", "--instance", "aur-a", "--apply", *aws.args()]) == 0
    capsys.readouterr()
    values = aws.parameters("aur-inst")
    assert values["shared_preload_libraries"] == "pg_stat_statements,pgaudit"
    assert values["pgaudit.log"] == "all,-misc"
    assert values["work_mem"] == "8192"
    assert "pgaudit.log_catalog" not in values  # not set there: the cluster's value holds

    assert main(["rds", "setup", "--instance", "aur-b", *aws.args()]) == 0
    again = capsys.readouterr().out
    assert "aur-inst" not in again, again  # nothing left to set there


def test_a_new_group_keeps_the_settings_of_the_custom_group_it_replaces(aws: Aws,
                                                                       capsys) -> None:
    """Moving an instance from its custom group to a new --parameter-group must not drop
    that group's other settings (work_mem here): the new group is a copy of it."""
    rds = aws.client("rds")
    rds.create_db_parameter_group(DBParameterGroupName="custom", DBParameterGroupFamily=
                                  "postgres15", Description="existing")
    rds.modify_db_parameter_group(DBParameterGroupName="custom", Parameters=[
        {"ParameterName": "work_mem", "ParameterValue": "8192", "ApplyMethod": "immediate"},
        {"ParameterName": "shared_preload_libraries", "ParameterValue": "pg_stat_statements",
         "ApplyMethod": "pending-reboot"}])
    aws.create_instance("db1", DBParameterGroupName="custom")
    argv = ["rds", "setup", "--instance", "db1", "--parameter-group", "audit", *aws.args()]

    assert main(argv) == 0
    plan = capsys.readouterr().out
    assert "copy DB parameter group custom to audit" in plan, plan
    assert "shared_preload_libraries: pg_stat_statements -> pg_stat_statements,pgaudit" in plan

    assert main([*argv, "--apply"]) == 0
    capsys.readouterr()
    values = aws.parameters("audit")
    assert values["work_mem"] == "8192"
    assert values["shared_preload_libraries"] == "pg_stat_statements,pgaudit"
    assert aws.parameters("custom")["shared_preload_libraries"] == "pg_stat_statements"

    assert main(argv) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_a_new_cluster_group_keeps_the_settings_of_the_custom_one(aws: Aws, capsys) -> None:
    rds = aws.client("rds")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="aur-custom", DBParameterGroupFamily="aurora-postgresql15",
        Description="cluster group")
    rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName="aur-custom", Parameters=[
        {"ParameterName": "work_mem", "ParameterValue": "8192", "ApplyMethod": "immediate"}])
    rds.create_db_cluster(DBClusterIdentifier="aur", Engine="aurora-postgresql",
                          EngineVersion="15.4", MasterUsername="master",
                          MasterUserPassword="not-a-real-password",
                          DBClusterParameterGroupName="aur-custom")
    rds.create_db_instance(DBInstanceIdentifier="aur-a", DBClusterIdentifier="aur",
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")

    assert main(["rds", "setup", "--instance", "aur-a", "--parameter-group", "aur-audit",
                 "--apply", *aws.args()]) == 0
    capsys.readouterr()
    params = rds.describe_db_cluster_parameters(
        DBClusterParameterGroupName="aur-audit")["Parameters"]
    values = {p["ParameterName"]: p["ParameterValue"] for p in params}
    assert values["work_mem"] == "8192" and values["shared_preload_libraries"] == "pgaudit"

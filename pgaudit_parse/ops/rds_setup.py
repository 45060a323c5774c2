"""Configure an RDS or Aurora PostgreSQL instance for pgAudit: plan first, apply on request.

What the seed guide does by hand in the console, as API calls: a DB parameter group (of the
instance's family) with ``shared_preload_libraries`` including pgaudit, ``pgaudit.log``,
``pgaudit.log_catalog=0``, ``pgaudit.log_parameter=0``, ``log_error_verbosity=default``
(and ``pgaudit.role=rds_pgaudit`` for object auditing), associated with the instance, and
the ``postgresql`` log exported to CloudWatch Logs. An instance of an Aurora cluster is
set up through its cluster: the DB cluster parameter group and the cluster's log exports.

:func:`plan_setup` only reads; :func:`apply_setup` makes the planned changes.

>>> parameter_family("postgres", "15.4"), parameter_family("aurora-postgresql", "9.6.22")
('postgres15', 'aurora-postgresql9.6')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pgaudit_parse.aws.errors import is_not_found
from pgaudit_parse.aws.naming import LOG_EXPORT, log_group_name

__all__ = [
    "AUDIT_ROLE",
    "AuditTarget",
    "group_parameters",
    "is_default_group",
    "read_target",
    "LOG_EXPORT",
    "ParameterChange",
    "SetupError",
    "SetupPlan",
    "apply_setup",
    "desired_parameters",
    "object_audit_sql",
    "parameter_family",
    "plan_setup",
    "reboot_notice",
    "render_plan",
]

AUDIT_ROLE = "rds_pgaudit"
# Parameters PostgreSQL only reads at server start; RDS refuses ApplyMethod=immediate for them.
_STATIC = frozenset({"shared_preload_libraries"})
_FALSE = frozenset({"0", "off", "false", "no"})
_TRUE = frozenset({"1", "on", "true", "yes"})


class SetupError(Exception):
    """The instance cannot be set up as asked (one line, no credentials)."""


@dataclass(frozen=True, slots=True)
class ParameterChange:
    """One parameter to set: its current value (None when unset) and the new one.

    >>> ParameterChange("pgaudit.log", None, "all,-misc", "immediate").describe()
    'pgaudit.log: (unset) -> all,-misc (immediate)'
    """

    name: str
    old: str | None
    new: str
    apply_method: str

    def describe(self) -> str:
        """``name: old -> new (apply method)``."""
        old = "(unset)" if self.old is None else self.old
        return f"{self.name}: {old} -> {self.new} ({self.apply_method})"


@dataclass(frozen=True, slots=True)
class SetupPlan:
    """Everything :func:`apply_setup` will do, computed by :func:`plan_setup`.

    ``scope`` is ``"instance"`` or ``"cluster"`` (Aurora); ``target`` the identifier the
    group and log export are set on.
    """

    instance: str
    scope: str
    target: str
    engine: str
    engine_version: str
    family: str
    mode: str
    parameter_group: str
    current_group: str
    create_group: bool
    associate_group: bool
    changes: tuple[ParameterChange, ...]
    enable_log_export: bool
    pending_reboot_now: bool
    #: Aurora: values set in a member's own DB parameter group override the cluster
    #: group's; (group, members using it, changes) for each such group to correct.
    instance_changes: tuple[tuple[str, tuple[str, ...], tuple[ParameterChange, ...]], ...] = ()
    #: The custom group the new one is copied from (its other settings are kept).
    copy_from: str = ""

    @property
    def has_changes(self) -> bool:
        """True when applying would change anything."""
        return bool(
            self.create_group or self.associate_group or self.changes or self.enable_log_export
            or self.instance_changes
        )

    @property
    def needs_reboot(self) -> bool:
        """True when the database must restart before pgAudit runs as configured."""
        static_change = any(
            c.apply_method == "pending-reboot"
            for c in (*self.changes, *(c for _, _, cs in self.instance_changes for c in cs)))
        return static_change or self.associate_group or self.pending_reboot_now

    @property
    def log_group(self) -> str:
        """The CloudWatch log group RDS publishes the ``postgresql`` log to."""
        return log_group_name(self.target, "cluster" if self.scope == "cluster" else "instance")


@dataclass(frozen=True, slots=True)
class _Api:
    """The RDS API names for one scope (instance or Aurora cluster)."""

    group_key: str
    describe_groups: str
    groups_list: str
    describe_parameters: str
    create_group: str
    modify_group: str
    family_key: str
    copy_group: str
    copy_keys: tuple[str, str, str]  # source, target, description


_INSTANCE_API = _Api("DBParameterGroupName", "describe_db_parameter_groups", "DBParameterGroups",
                     "describe_db_parameters", "create_db_parameter_group",
                     "modify_db_parameter_group", "DBParameterGroupFamily",
                     "copy_db_parameter_group",
                     ("SourceDBParameterGroupIdentifier", "TargetDBParameterGroupIdentifier",
                      "TargetDBParameterGroupDescription"))
_CLUSTER_API = _Api("DBClusterParameterGroupName", "describe_db_cluster_parameter_groups",
                    "DBClusterParameterGroups", "describe_db_cluster_parameters",
                    "create_db_cluster_parameter_group", "modify_db_cluster_parameter_group",
                    "DBParameterGroupFamily", "copy_db_cluster_parameter_group",
                    ("SourceDBClusterParameterGroupIdentifier",
                     "TargetDBClusterParameterGroupIdentifier",
                     "TargetDBClusterParameterGroupDescription"))


def parameter_family(engine: str, engine_version: str) -> str:
    """The parameter group family of an engine version (``postgres15``, ``postgres9.6``).

    PostgreSQL 10 and later name the family by major version, earlier ones by major.minor.

    >>> parameter_family("postgres", "16.1")
    'postgres16'
    """
    parts = engine_version.split(".")
    if not parts[0].isdigit():
        raise SetupError(f"cannot read engine version {engine_version!r}")
    major = parts[0] if int(parts[0]) >= 10 or len(parts) < 2 else f"{parts[0]}.{parts[1]}"
    return f"{engine}{major}"


def desired_parameters(mode: str, current_preload: str | None) -> dict[str, str]:
    """The parameter values the seed guide asks for in ``mode`` (``session`` or ``object``).

    ``shared_preload_libraries`` keeps the libraries already loaded and adds pgaudit.

    >>> desired_parameters("object", "pg_stat_statements")["shared_preload_libraries"]
    'pg_stat_statements,pgaudit'
    """
    if mode not in ("session", "object"):
        raise SetupError(f"unknown mode {mode!r}; expected session or object")
    # Each library once, in the order loaded (a library listed twice is loaded once).
    libraries = list(dict.fromkeys(
        lib.strip() for lib in (current_preload or "").split(",") if lib.strip()))
    if "pgaudit" not in libraries:
        libraries.append("pgaudit")
    values = {
        "shared_preload_libraries": ",".join(libraries),
        "pgaudit.log": "all,-misc" if mode == "session" else "none",
        "pgaudit.log_catalog": "0",
        "pgaudit.log_parameter": "0",
        "log_error_verbosity": "default",
    }
    if mode == "object":
        values["pgaudit.role"] = AUDIT_ROLE
    return values


def _same_value(old: str | None, new: str) -> bool:
    if old is None:
        return False
    a, b = old.strip().lower(), new.strip().lower()
    if a in _FALSE and b in _FALSE or a in _TRUE and b in _TRUE:
        return True
    return re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b)


def _paginate(rds: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if rds.can_paginate(operation):
        for page in rds.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(key, []))
        return items
    return list(getattr(rds, operation)(**kwargs).get(key, []))


def _current_parameters(rds: Any, api: _Api, group: str) -> dict[str, dict[str, Any]]:
    params = _paginate(rds, api.describe_parameters, "Parameters", **{api.group_key: group})
    return {p["ParameterName"]: p for p in params if "ParameterName" in p}


def _group_family(rds: Any, api: _Api, group: str) -> str | None:
    """The family of an existing group, or None when it does not exist."""
    try:
        found = getattr(rds, api.describe_groups)(**{api.group_key: group})[api.groups_list]
    except rds.exceptions.ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return found[0].get(api.family_key) if found else None


# RDS parameter group names: 1 to 255 letters, digits and single hyphens, starting with a
# letter, not ending with a hyphen; RDS stores them (like every identifier) in lower case.
_GROUP_NAME = re.compile(r"[a-z](?:-?[a-z0-9])*")
_DEFAULT_GROUP = "default."


def is_default_group(name: str) -> bool:
    """True for an RDS default parameter group (``default.postgres15``), which cannot be
    modified and sets no value of its own.

    >>> is_default_group("default.aurora-postgresql15"), is_default_group("pgaudit-db1")
    (True, False)
    """
    return name.strip().lower().startswith(_DEFAULT_GROUP)


def _group_name(name: str) -> str:
    """A group name as RDS stores it (lower case), or :class:`SetupError` when RDS would
    refuse it or it is an RDS default group (which cannot be modified).

    >>> _group_name("Audit-15")
    'audit-15'
    """
    lowered = name.strip().lower()
    if is_default_group(lowered):
        raise SetupError(f"parameter group {name!r} is an RDS default group and cannot be "
                         f"modified; omit --parameter-group to create pgaudit-INSTANCE")
    if len(lowered) > 255 or not _GROUP_NAME.fullmatch(lowered):
        raise SetupError(f"invalid parameter group name {name!r}: 1 to 255 letters, digits "
                         f"and single hyphens, starting with a letter, not ending with a "
                         f"hyphen")
    return lowered


def _default_group_name(target: str) -> str:
    # Group names: letters, digits, single hyphens, starting with a letter, at most 255.
    name = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", f"pgaudit-{target}".lower()))
    return name[:255].rstrip("-")


@dataclass(frozen=True, slots=True)
class AuditTarget:
    """Where an instance's pgAudit settings live: the instance itself, or its Aurora cluster.

    ``group`` is the parameter group in use, ``exports`` the enabled CloudWatch log exports,
    ``pending_reboot`` whether a parameter change waits for a restart.
    """

    instance: str
    engine: str
    engine_version: str
    scope: str
    target: str
    group: str
    exports: tuple[str, ...]
    pending_reboot: bool
    status: str
    #: Aurora: each member instance and its DB parameter group.
    members: tuple[tuple[str, str], ...] = ()

    @property
    def log_group(self) -> str:
        """The CloudWatch log group RDS publishes the ``postgresql`` log to."""
        return log_group_name(self.target, self.scope)


def read_target(rds: Any, instance: str) -> AuditTarget:
    """Describe ``instance`` (and its Aurora cluster); raises :class:`SetupError` when it does
    not exist or is not PostgreSQL."""
    wanted = instance.strip().lower()
    if not wanted:
        # DescribeDBInstances without an identifier lists every instance of the region.
        raise SetupError("no DB instance identifier given")
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=wanted)["DBInstances"]
    except rds.exceptions.ClientError as exc:
        if is_not_found(exc):
            raise SetupError(_not_an_instance(rds, instance, wanted)) from exc
        raise
    # RDS stores identifiers in lower case: keep only the instance asked for, named as RDS
    # names it (the log group and the reboot command use that name).
    found = [d for d in found if str(d.get("DBInstanceIdentifier", "")).lower() == wanted]
    if not found:
        raise SetupError(_not_an_instance(rds, instance, wanted))
    db = found[0]
    instance = db["DBInstanceIdentifier"]
    engine = db.get("Engine", "")
    if "postgres" not in engine:
        raise SetupError(f"DB instance {instance!r} runs {engine!r}, not PostgreSQL")
    cluster_id = db.get("DBClusterIdentifier")
    if cluster_id:
        cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
        members = tuple(
            (member, _instance_group(rds, member, db if member == instance else None))
            for member in (str(m.get("DBInstanceIdentifier", ""))
                           for m in cluster.get("DBClusterMembers", []))
            if member
        )
        return AuditTarget(
            instance=instance, engine=engine, engine_version=db.get("EngineVersion", ""),
            scope="cluster", target=cluster_id,
            group=cluster.get("DBClusterParameterGroup", ""),
            exports=tuple(cluster.get("EnabledCloudwatchLogsExports", [])),
            pending_reboot=any(
                m.get("DBClusterParameterGroupStatus") == "pending-reboot"
                for m in cluster.get("DBClusterMembers", [])
            ) or any(g.get("ParameterApplyStatus") == "pending-reboot"
                     for g in db.get("DBParameterGroups", [])),
            status=db.get("DBInstanceStatus", ""),
            members=members,
        )
    groups = db.get("DBParameterGroups", [])
    return AuditTarget(
        instance=instance, engine=engine, engine_version=db.get("EngineVersion", ""),
        scope="instance", target=instance,
        group=groups[0]["DBParameterGroupName"] if groups else "",
        exports=tuple(db.get("EnabledCloudwatchLogsExports", [])),
        pending_reboot=any(g.get("ParameterApplyStatus") == "pending-reboot" for g in groups),
        status=db.get("DBInstanceStatus", ""),
    )


def _instance_group(rds: Any, instance: str, described: dict[str, Any] | None) -> str:
    """The DB parameter group of ``instance`` ("" when it has none or is gone)."""
    if described is None:
        try:
            found = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"]
        except rds.exceptions.ClientError as exc:
            if is_not_found(exc):
                return ""
            raise
        described = found[0] if found else {}
    groups = described.get("DBParameterGroups", [])
    return str(groups[0].get("DBParameterGroupName", "")) if groups else ""


def _changes(current: dict[str, dict[str, Any]], desired: dict[str, str],
             only_set: bool = False) -> tuple[ParameterChange, ...]:
    """The changes that make ``current`` hold ``desired`` (``only_set``: only for the
    parameters set by the user there, as an Aurora instance group overrides only those)."""
    changes = []
    for name, value in desired.items():
        param = current.get(name, {})
        old = param.get("ParameterValue")
        if only_set and (old is None or param.get("Source", "user") != "user"):
            continue
        if _same_value(old, value):
            continue
        static = param.get("ApplyType") == "static" or name in _STATIC
        changes.append(
            ParameterChange(name, old, value, "pending-reboot" if static else "immediate")
        )
    return tuple(changes)


def _instance_overrides(
    rds: Any, members: tuple[tuple[str, str], ...], mode: str
) -> tuple[tuple[str, tuple[str, ...], tuple[ParameterChange, ...]], ...]:
    """Aurora: the members' DB parameter groups that set one of our parameters to another
    value (a default group sets nothing)."""
    users: dict[str, list[str]] = {}
    for member, group in members:
        if group and not is_default_group(group):
            users.setdefault(group, []).append(member)
    found = []
    for group, names in users.items():
        current = _current_parameters(rds, _INSTANCE_API, group)
        preload = current.get("shared_preload_libraries", {}).get("ParameterValue")
        changes = _changes(current, desired_parameters(mode, preload), only_set=True)
        if changes:
            found.append((group, tuple(names), changes))
    return tuple(found)


def _not_an_instance(rds: Any, instance: str, wanted: str) -> str:
    """Why ``instance`` is not found: an Aurora cluster's identifier names its instances."""
    try:
        clusters = rds.describe_db_clusters(DBClusterIdentifier=wanted)["DBClusters"]
    except rds.exceptions.ClientError:
        clusters = []
    for cluster in clusters:
        if str(cluster.get("DBClusterIdentifier", "")).lower() != wanted:
            continue
        members = [m.get("DBInstanceIdentifier", "") for m in cluster.get("DBClusterMembers", [])]
        listed = ", ".join(m for m in members if m) or "none yet"
        return (f"{instance!r} is an Aurora cluster, not a DB instance: pass one of its "
                f"instances ({listed}); the cluster is set up through it")
    return f"DB instance {instance!r} not found"


def group_parameters(rds: Any, scope: str, group: str) -> dict[str, dict[str, Any]]:
    """Every parameter of a DB (``scope="instance"``) or DB cluster parameter group, by name."""
    return _current_parameters(rds, _CLUSTER_API if scope == "cluster" else _INSTANCE_API, group)


def plan_setup(
    rds: Any, instance: str, *, parameter_group: str | None = None, mode: str = "session"
) -> SetupPlan:
    """Read the instance (and its Aurora cluster) and plan what :func:`apply_setup` changes.

    The group used is ``parameter_group`` when given, else the instance's own group when it
    is not an RDS default (defaults cannot be modified), else ``pgaudit-INSTANCE``.
    """
    state = read_target(rds, instance)
    instance = state.instance
    api = _CLUSTER_API if state.scope == "cluster" else _INSTANCE_API
    engine, version, scope, target = state.engine, state.engine_version, state.scope, state.target
    current_group, exports, pending = state.group, state.exports, state.pending_reboot

    current_family = _group_family(rds, api, current_group) if current_group else None
    family = current_family or parameter_family(engine, version)
    if parameter_group is not None:
        group = _group_name(parameter_group)
    elif current_group and not is_default_group(current_group):
        group = current_group
    else:
        group = _default_group_name(target)
    existing_family = _group_family(rds, api, group)
    if existing_family is not None and existing_family != family:
        raise SetupError(
            f"parameter group {group!r} is of family {existing_family}, "
            f"but {scope} {target!r} needs {family}"
        )
    create = existing_family is None
    current = {} if create else _current_parameters(rds, api, group)
    copy_from = ""
    if create and current_group and current_family == family \
            and not is_default_group(current_group):
        # A custom group holds settings of its own (work_mem, logging...): the new group
        # is a copy of it, so that moving the instance to it loses none of them.
        copy_from = current_group
        current = _current_parameters(rds, api, current_group)
        old_preload = current.get("shared_preload_libraries", {}).get("ParameterValue")
    elif create and current_group and current_family is not None:
        # A new group starts from the engine defaults: keep libraries the old group loads.
        old_preload = _current_parameters(rds, api, current_group).get(
            "shared_preload_libraries", {}
        ).get("ParameterValue")
    else:
        old_preload = current.get("shared_preload_libraries", {}).get("ParameterValue")
    changes = _changes(current, desired_parameters(mode, old_preload))
    overrides = _instance_overrides(rds, state.members, mode) if scope == "cluster" else ()
    return SetupPlan(
        instance=instance,
        scope=scope,
        target=target,
        engine=engine,
        engine_version=version,
        family=family,
        mode=mode,
        parameter_group=group,
        current_group=current_group,
        create_group=create,
        associate_group=group != current_group,
        changes=changes,
        enable_log_export=LOG_EXPORT not in exports,
        pending_reboot_now=pending,
        instance_changes=overrides,
        copy_from=copy_from,
    )


def render_plan(plan: SetupPlan) -> str:
    """The plan as numbered, human-readable steps."""
    lines = [
        f"Plan for DB instance {plan.instance} ({plan.engine} {plan.engine_version}, "
        f"family {plan.family}, {plan.mode} auditing):"
    ]
    where = "DB cluster parameter group" if plan.scope == "cluster" else "DB parameter group"
    steps: list[str] = []
    if plan.create_group and plan.copy_from:
        steps.append(f"copy {where} {plan.copy_from} to {plan.parameter_group} (its other "
                     f"settings are kept)")
    elif plan.create_group:
        steps.append(f"create {where} {plan.parameter_group} (family {plan.family})")
    if plan.changes:
        detail = "".join(f"\n       {change.describe()}" for change in plan.changes)
        steps.append(f"set parameters in {plan.parameter_group}:{detail}")
    for group, members, changes in plan.instance_changes:
        detail = "".join(f"\n       {change.describe()}" for change in changes)
        steps.append(f"set parameters in DB parameter group {group} of instance "
                     f"{', '.join(members)} (values set there override the cluster "
                     f"group's):{detail}")
    if plan.associate_group:
        steps.append(
            f"use {plan.parameter_group} for {plan.scope} {plan.target} "
            f"(now {plan.current_group or 'none'})"
        )
    if plan.enable_log_export:
        steps.append(
            f"export the {LOG_EXPORT} log of {plan.scope} {plan.target} to CloudWatch Logs "
            f"({plan.log_group})"
        )
    if not steps:
        lines.append(f"  nothing to change: {plan.parameter_group} is configured and the "
                     f"{LOG_EXPORT} log is exported")
    lines.extend(f"  {number}. {step}" for number, step in enumerate(steps, 1))
    return "\n".join(lines) + "\n"


def _modify(rds: Any, api: _Api, group: str, changes: tuple[ParameterChange, ...]) -> None:
    # ModifyDB*ParameterGroup takes at most 20 parameters per call.
    for start in range(0, len(changes), 20):
        getattr(rds, api.modify_group)(**{
            api.group_key: group,
            "Parameters": [
                {"ParameterName": c.name, "ParameterValue": c.new, "ApplyMethod": c.apply_method}
                for c in changes[start:start + 20]
            ],
        })


def apply_setup(rds: Any, plan: SetupPlan) -> list[str]:
    """Make the planned changes; returns one line per change made."""
    cluster = plan.scope == "cluster"
    api = _CLUSTER_API if cluster else _INSTANCE_API
    done: list[str] = []
    if plan.create_group and plan.copy_from:
        source, target, description = api.copy_keys
        getattr(rds, api.copy_group)(**{
            source: plan.copy_from, target: plan.parameter_group,
            description: f"{plan.copy_from} with pgAudit {plan.mode} auditing "
                         f"(pgaudit-parse rds setup)",
        })
        done.append(f"copied {plan.copy_from} to {plan.parameter_group}")
    elif plan.create_group:
        getattr(rds, api.create_group)(**{
            api.group_key: plan.parameter_group,
            "DBParameterGroupFamily": plan.family,
            "Description": f"pgAudit {plan.mode} auditing (pgaudit-parse rds setup)",
        })
        done.append(f"created {plan.parameter_group}")
    if plan.changes:
        _modify(rds, api, plan.parameter_group, plan.changes)
        done.append(f"set {len(plan.changes)} parameter(s) in {plan.parameter_group}")
    for group, _members, changes in plan.instance_changes:
        _modify(rds, _INSTANCE_API, group, changes)
        done.append(f"set {len(changes)} parameter(s) in {group}")
    modify: dict[str, Any] = {}
    if plan.associate_group:
        modify[api.group_key] = plan.parameter_group
    if plan.enable_log_export:
        modify["CloudwatchLogsExportConfiguration"] = {"EnableLogTypes": [LOG_EXPORT]}
    if modify:
        if cluster:
            rds.modify_db_cluster(DBClusterIdentifier=plan.target, ApplyImmediately=True,
                                  **modify)
        else:
            rds.modify_db_instance(DBInstanceIdentifier=plan.target, ApplyImmediately=True,
                                   **modify)
        if plan.associate_group:
            done.append(f"{plan.scope} {plan.target} now uses {plan.parameter_group}")
        if plan.enable_log_export:
            done.append(f"{plan.scope} {plan.target} exports {LOG_EXPORT} to {plan.log_group}")
    return done


# One part of a relation name: a double-quoted identifier ("" is a quote inside it) or a
# plain identifier; a relation is one to three parts joined by dots.
_QUOTED_PART = r'"(?:[^"]|"")+"'
_PLAIN_PART = r"[A-Za-z_][A-Za-z0-9_$]*"
_PART = rf"\s*(?:{_QUOTED_PART}|{_PLAIN_PART})\s*"
_RELATION = re.compile(rf"{_PART}(?:\.{_PART}){{0,2}}")
_RELATION_PART = re.compile(rf"{_QUOTED_PART}|[^.]+")


def _quote_relation(relation: str) -> str:
    """A relation name as SQL: a name made of plain identifiers and double-quoted parts
    joined by dots stays as typed (PostgreSQL folds plain parts as psql would); any other
    text is one identifier, quoted whole, so no character is lost and no dot invented.

    >>> _quote_relation('public.orders'), _quote_relation('sales."Q1"'), _quote_relation('my t')
    ('public.orders', 'sales."Q1"', '"my t"')
    >>> _quote_relation('a"b')
    '"a""b"'
    """
    text = relation.strip()
    if _RELATION.fullmatch(text):
        return ".".join(part.strip() for part in _RELATION_PART.findall(text))
    return '"' + text.replace('"', '""') + '"'


def object_audit_sql(mode: str, tables: Iterable[str] = ()) -> str:
    """The SQL to run after the reboot (as the master user): the pgaudit extension, and for
    object auditing the audit role and its grants (one GRANT per audited table).

    The role belongs to the whole server, not to one database: it is created only when
    missing, so the same SQL runs in every database, and again.

    >>> print(object_audit_sql("object", ["public.orders"]), end="")
    CREATE EXTENSION IF NOT EXISTS pgaudit;
    DO $$ BEGIN CREATE ROLE rds_pgaudit; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    GRANT SELECT, INSERT, UPDATE, DELETE ON public.orders TO rds_pgaudit;
    """
    lines = ["CREATE EXTENSION IF NOT EXISTS pgaudit;"]
    if mode == "object":
        lines.append(f"DO $$ BEGIN CREATE ROLE {AUDIT_ROLE}; "
                     f"EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
        relations = [_quote_relation(t) for t in tables] or ["<schema>.<table>"]
        lines.extend(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {rel} TO {AUDIT_ROLE};"
            for rel in relations
        )
    return "\n".join(lines) + "\n"


def reboot_notice(plan: SetupPlan, applied: bool) -> str:
    """What to run to restart the database, or an empty string when no reboot is needed.

    ``applied`` says whether the plan's changes were made (else the notice is about later).
    """
    if not plan.needs_reboot:
        return ""
    command = f"aws rds reboot-db-instance --db-instance-identifier {plan.instance}"
    if plan.scope == "cluster":
        command = f"reboot every instance of cluster {plan.target}, e.g. {command}"
    if applied or (plan.pending_reboot_now and not plan.has_changes):
        return f"Reboot pending: pgAudit takes effect after a restart: {command}\n"
    return f"After --apply, a reboot is needed for pgAudit to take effect: {command}\n"

"""OCSF as Parquet for Amazon Security Lake custom sources (needs ``pyarrow``: the
``[parquet]`` extra).

Security Lake takes one OCSF class per custom source, as Parquet objects under the
source's prefix, partitioned ``region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/``.
:class:`OcsfParquetSink` writes that layout into a directory, one source folder per class::

    DIR/pgaudit_datastore_activity/region=eu-west-1/accountId=123456789012/eventDay=20261125/
        pgaudit-3f7c0a9e5b21d4c8e6f1a2b3c4d5e6f7.parquet
    DIR/pgaudit_authentication/region=.../accountId=.../eventDay=.../....parquet

so that ``aws s3 sync DIR s3://<lake bucket>/ext/`` lands each class under the custom
source registered with that name (``--source-prefix`` changes ``pgaudit``). ``eventDay``
is the UTC day of the event's ``time``.

Each class has a fixed Arrow schema (every attribute ``--format ocsf`` writes for it;
absent ones are null), so every file of a source has the same columns. ``unmapped`` is a
``map<string, string>`` as in Security Lake's own tables (nested values are JSON text,
``pgaudit.*`` keys flattened). Files are written in row groups of ``rows_per_group``
rows; a file is complete when the sink is flushed or closed (call ``flush()`` before
acknowledging input: it closes the open files and fsyncs them).

A file is written under a hidden temporary name (``.pgaudit-PID-….parquet.tmp``: Athena,
Glue and Spark skip names that start with a dot) and renamed when complete, so a reader
of the lake never meets a half-written file. Its final name is the digest of its rows:
a run that is interrupted (:meth:`OcsfParquetSink.abort`: nothing open is committed) and
run again over the same input writes the files of the inputs it had finished under the
same names, replacing them, and the rest once: no row twice, none lost. A temporary
file of a run that was killed is removed by the next run that writes in its folder.

>>> import tempfile, os
>>> from pgaudit_parse import parse_lines
>>> out = tempfile.mkdtemp()
>>> sink = OcsfParquetSink(out, "eu-west-1", "123456789012", instance="db1")
>>> for e in parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
...                       "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"]):
...     sink.write(e)
>>> sink.close()
>>> [os.path.relpath(d, out) for d, _, files in os.walk(out) if files]
['pgaudit_datastore_activity/region=eu-west-1/accountId=123456789012/eventDay=20261125']
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from datetime import datetime, timezone
from typing import IO, Any, Final

import orjson

from .events import Event
from .formats.ocsf import AUTHENTICATION, DATASTORE_ACTIVITY, to_ocsf
from .lines import Reject
from .sinks import default_redact, fsync_if_possible, reject_to_json
from .sql.stage import SqlStage

__all__ = ["OcsfParquetSink", "SOURCE_NAMES", "ParquetUnavailable", "arrow_schema"]

#: Custom source folder of each class (after the ``--source-prefix``).
SOURCE_NAMES: Final = {DATASTORE_ACTIVITY: "datastore_activity",
                       AUTHENTICATION: "authentication"}


class ParquetUnavailable(RuntimeError):
    """pyarrow is not installed."""


def _pa() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ParquetUnavailable(
            "Parquet output needs pyarrow: pip install 'pgaudit-parse[parquet]'") from None
    return pyarrow


def arrow_schema(class_uid: int) -> Any:
    """The Arrow schema of one class's Parquet files."""
    pa = _pa()
    string, int32, int64, boolean = pa.string(), pa.int32(), pa.int64(), pa.bool_()
    user = pa.struct([("name", string)])
    session = pa.struct([("uid", string), ("created_time", int64), ("is_remote", boolean)])
    endpoint = pa.struct([("ip", string), ("port", int32), ("name", string),
                          ("hostname", string), ("svc_name", string)])
    actor = pa.struct([("user", user), ("session", session), ("invoked_by", string),
                       ("process", pa.struct([("pid", int32)]))])
    metadata = pa.struct([
        ("version", string),
        ("product", pa.struct([("name", string), ("vendor_name", string), ("lang", string)])),
        ("log_name", string), ("log_provider", string), ("original_time", string),
        ("processed_time", int64)])
    common = [
        ("activity_id", int32), ("activity_name", string), ("category_uid", int32),
        ("category_name", string), ("class_uid", int32), ("class_name", string),
        ("type_uid", int64), ("type_name", string), ("severity_id", int32),
        ("severity", string), ("time", int64), ("timezone_offset", int32),
        ("message", string), ("metadata", metadata), ("status_id", int32),
        ("status", string), ("status_code", string), ("status_detail", string),
        ("actor", actor), ("src_endpoint", endpoint), ("dst_endpoint", endpoint),
    ]
    if class_uid == DATASTORE_ACTIVITY:
        specific = [
            ("database", pa.struct([("type_id", int32), ("type", string), ("name", string),
                                    ("uid", string)])),
            ("table", pa.struct([("name", string)])),
            ("query_info", pa.struct([("query_string", string)])),
        ]
    else:
        specific = [("user", user), ("session", session),
                    ("service", pa.struct([("name", string)])), ("is_remote", boolean)]
    return pa.schema(common + specific + [("unmapped", pa.map_(string, string))])


def _row_bytes(obj: dict[str, Any]) -> bytes:
    """A row's canonical bytes, for the digest that names its file."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) + b"\n"
    except TypeError:  # (what orjson does not take: a lone surrogate, a huge integer)
        return json.dumps(obj, sort_keys=True).encode() + b"\n"


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the system allows opening a folder)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _unmapped(values: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in values.items():
        if value is None:
            continue
        if key == "pgaudit" and isinstance(value, dict):
            out += [(f"pgaudit.{k}", v if isinstance(v, str) else json.dumps(v))
                    for k, v in value.items() if v is not None]
        else:
            out.append((key, value if isinstance(value, str) else json.dumps(value)))
    return out


class _Partition:
    """One open Parquet file (under its temporary name in ``folder``), the rows waiting
    to become its next row group, and the digest of every row given to it."""

    __slots__ = ("folder", "path", "writer", "rows", "digest")

    def __init__(self, folder: str, path: str) -> None:
        self.folder = folder
        self.path = path
        self.writer: Any = None
        self.rows: list[dict[str, Any]] = []
        self.digest = hashlib.sha256()


#: The temporary name of a file being written: ``.pgaudit-<pid>-<run>-<sequence>``.
_TEMPORARY = re.compile(r"\.pgaudit-(\d+)-[^/]*\.parquet\.tmp\Z")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2**22  # (another user's process; an absurd pid runs nowhere)
    return True


def _remove_stale(folder: str) -> None:
    """Remove the temporary files a killed run left in ``folder`` (its pid runs no more);
    a run still writing keeps its own."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.match(name)
        if match is not None and not _running(int(match.group(1))):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


class OcsfParquetSink:
    """The ``--format ocsf-parquet`` sink: OCSF events into Security Lake's layout.

    Same interface as :class:`~pgaudit_parse.sinks.OutputSink` (``write``, ``reject``,
    ``flush``, ``close``, counts); events OCSF has no class for are counted in
    ``skipped``. Memory is bounded by ``rows_per_group`` rows per open partition.
    """

    fmt = "ocsf-parquet"
    released_early = 0  # (it holds no records waiting for other lines)

    def __init__(self, directory: str, region: str, account_id: str,
                 instance: str | None = None, errors: IO[str] | None = None,
                 source_prefix: str = "pgaudit", rows_per_group: int = 50_000,
                 owned: tuple[IO[str], ...] = (), redact: str | None = None) -> None:
        self._pa = _pa()
        import pyarrow.parquet as pq

        self._pq = pq
        # The SQL stage, as ``--format ocsf`` has it: no password unless asked.
        self.redact = redact or default_redact(self.fmt)
        self._sql = SqlStage(self.redact, fingerprints=False)
        self.directory = directory
        self.region = region
        self.account_id: str | None = account_id
        self.instance = instance
        self.errors = errors
        self.out = None
        self.source_prefix = source_prefix
        self.rows_per_group = rows_per_group
        self.written = 0
        self.skipped = 0
        self.rejected = 0
        #: the files committed (complete, under their final names)
        self.files: list[str] = []
        self._owned = owned
        self._run = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self._sequence = 0
        self._open: dict[tuple[int, str], _Partition] = {}
        self._swept: set[str] = set()
        self._schemas = {uid: arrow_schema(uid) for uid in SOURCE_NAMES}

    def write(self, event: Event, instance: str | None = None) -> None:
        """Map one event to OCSF and queue it in its class/day partition."""
        obj = to_ocsf(self._sql.apply(event)[0], self.account_id, instance or self.instance)
        if obj is None:
            self.skipped += 1
            return
        obj["unmapped"] = _unmapped(obj.get("unmapped") or {})
        day = datetime.fromtimestamp(obj["time"] / 1000, timezone.utc).strftime("%Y%m%d")
        key = (obj["class_uid"], day)
        partition = self._open.get(key)
        if partition is None:
            partition = self._open[key] = self._new_partition(obj["class_uid"], day)
        partition.digest.update(_row_bytes(obj))
        partition.rows.append(obj)
        self.written += 1
        if len(partition.rows) >= self.rows_per_group:
            self._write_group(key, partition)

    def _new_partition(self, class_uid: int, day: str) -> _Partition:
        self._sequence += 1
        folder = os.path.join(self.directory,
                              f"{self.source_prefix}_{SOURCE_NAMES[class_uid]}",
                              f"region={self.region}", f"accountId={self.account_id}",
                              f"eventDay={day}")
        os.makedirs(folder, exist_ok=True)
        if folder not in self._swept:
            self._swept.add(folder)
            _remove_stale(folder)
        name = f".pgaudit-{os.getpid()}-{self._run}-{self._sequence:06d}.parquet.tmp"
        return _Partition(folder, os.path.join(folder, name))

    def _write_group(self, key: tuple[int, str], partition: _Partition) -> None:
        if not partition.rows:
            return
        schema = self._schemas[key[0]]
        table = self._pa.Table.from_pylist(partition.rows, schema=schema)
        if partition.writer is None:
            partition.writer = self._pq.ParquetWriter(partition.path, schema,
                                                      compression="zstd")
        partition.writer.write_table(table)
        partition.rows = []

    def oldest_held_line(self) -> int | None:
        """Nothing is held for a later line (rows are only buffered)."""
        return None

    def reject(self, reject: Reject) -> None:
        """Count a reject and write it to the dead-letter stream (JSON lines)."""
        self.rejected += 1
        if self.errors is not None:
            self.errors.write(json.dumps(reject_to_json(reject, self.redact),
                                         ensure_ascii=False) + "\n")

    def flush(self, durable: bool = False) -> None:
        """Write every buffered row, close the open files (a Parquet file is readable only
        once closed) and give each its final name, the digest of its rows; with
        ``durable``, fsync them and their folders first. Later events go to new files."""
        for key, partition in list(self._open.items()):
            self._write_group(key, partition)
            if partition.writer is None:
                continue
            partition.writer.close()
            partition.writer = None
            if durable:
                with open(partition.path, "rb") as handle:
                    os.fsync(handle.fileno())
            final = os.path.join(partition.folder, f"{self.source_prefix}-"
                                 f"{partition.digest.hexdigest()[:32]}.parquet")
            os.replace(partition.path, final)  # (the same rows again: the same file)
            if durable:
                _fsync_folder(partition.folder)
            self.files.append(final)
        self._open.clear()
        if self.errors is not None:
            self.errors.flush()
            if durable:
                fsync_if_possible(self.errors)  # EIO/ENOSPC raise: nothing is acknowledged

    def abort(self) -> None:
        """The run stops before its input was read (^C, SIGTERM, an error): forget the
        open files, whose rows came from input not acknowledged, and remove them (a run
        again over the input writes those rows once). Committed files stay."""
        for partition in self._open.values():
            try:
                if partition.writer is not None:
                    partition.writer.close()
            except Exception:  # noqa: BLE001 (the file is removed whatever its state)
                pass
            try:
                os.unlink(partition.path)
            except OSError:
                pass
        self._open.clear()

    def close(self) -> None:
        """Flush, then close the streams handed over as ``owned``."""
        self.flush()
        for stream in self._owned:
            stream.close()

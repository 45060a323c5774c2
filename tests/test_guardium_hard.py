"""Guardium records, OCSF and ECS on hard input: every output object stays inside its
contract (the Record's Java types and ranges, the bundled schemas) whatever the log says,
and one execution stays one record. Each test names the defect it pins down.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import pgaudit_parse as pp
from pgaudit_parse.formats.guardium import RecordBuilder, record_schema
from pgaudit_parse.formats.record_template import RecordWriter

RDS = "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:"
RECORD = jsonschema.Draft202012Validator(record_schema())


def records_of(lines: list[str], prefix: str = pp.RDS_PREFIX,
               **options: Any) -> list[dict[str, Any]]:
    """The records of log lines, as dicts (library) and as the CLI's JSON lines: the two
    must agree, and each must be valid by the Record schema."""
    builder = RecordBuilder("123456789012", "db1", **options)
    writer = RecordWriter("123456789012", "db1", **options)
    dicts: list[dict[str, Any]] = []
    texts: list[str] = []
    for event in pp.parse_lines(lines, prefix=prefix):
        dicts += builder.add(event)
        texts += writer.add_lines(event)
    dicts += builder.flush()
    texts += writer.flush_lines()
    assert [json.loads(t) for t in texts] == dicts
    for record in dicts:
        assert [e.message for e in RECORD.iter_errors(record)] == []
    return dicts


@pytest.mark.parametrize(("rows", "expected"), [
    ("3", 3), ("2147483647", 2147483647),
    # pgAudit writes a uint64 count; the Record's field is a Java int
    ("2147483648", 2147483647), ("99999999999", 2147483647), (str(2**64 - 1), 2147483647),
    # not a count: what "not logged" says
    ("-5", -1),
])
def test_records_affected_fits_a_java_int(rows: str, expected: int) -> None:
    [record] = records_of([RDS + f"LOG:  AUDIT: SESSION,1,1,WRITE,UPDATE,,,update t set a=1,"
                                 f"<none>,{rows}"])
    assert record["recordsAffected"] == expected

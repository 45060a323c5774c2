"""PostgreSQL's keywords that are not plain names (``src/include/parser/kwlist.h``).

A *reserved* keyword is never a name unless quoted; a *column name* keyword may name a
column but, before ``(``, is a construct of its own (``coalesce(...)``, ``row(...)``); a
*type or function name* keyword may name a function (``left(...)``) but not stand alone
as a column (``like``, ``join``). Every other keyword is an ordinary name wherever a name
goes, quoted or not. (tests/test_sql_fingerprint_split.py checks these lists against
pglast's.)

>>> "user" in RESERVED_KEYWORDS, "coalesce" in COL_NAME_KEYWORDS, "left" in TYPE_FUNC_NAME_KEYWORDS
(True, True, True)
"""

from __future__ import annotations

from typing import Final

__all__ = ["RESERVED_KEYWORDS", "COL_NAME_KEYWORDS", "TYPE_FUNC_NAME_KEYWORDS"]

RESERVED_KEYWORDS: Final = frozenset("""
    all analyse analyze and any array as asc asymmetric both case cast check collate column
    constraint create current_catalog current_date current_role current_time
    current_timestamp current_user default deferrable desc distinct do else end except
    false fetch for foreign from grant group having in initially intersect into lateral
    leading limit localtime localtimestamp not null offset on only or order placing primary
    references returning select session_user some symmetric system_user table then to
    trailing true union unique user using variadic when where window with
""".split())

COL_NAME_KEYWORDS: Final = frozenset("""
    between bigint bit boolean char character coalesce dec decimal exists extract float
    greatest grouping inout int integer interval json json_array json_arrayagg json_exists
    json_object json_objectagg json_query json_scalar json_serialize json_table json_value
    least merge_action national nchar none normalize nullif numeric out overlay position
    precision real row setof smallint substring time timestamp treat trim values varchar
    xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi
    xmlroot xmlserialize xmltable
""".split())

TYPE_FUNC_NAME_KEYWORDS: Final = frozenset("""
    authorization binary collation concurrently cross current_schema freeze full ilike
    inner is isnull join left like natural notnull outer overlaps right similar tablesample
    verbose
""".split())

"""The prefix grammar as PostgreSQL documents it, and the fast regex's cost.

* Every ``log_line_prefix`` escape of PostgreSQL 17 and 18 (``%L``, the local address,
  is new in 18) is read, with the value types the reference grammar gives them.
* The fast regex runs in time linear in the line for every prefix: checked on the regex
  itself (no timing): in each backtracking scope (the whole pattern, or one atomic group)
  at most one unbounded repeat can give characters back, every repeat that is unbounded
  repeats one character, and every lookahead has a bounded width. Such a pattern costs at
  most (line length) x (widest lookahead) steps per scope.
* On long lines that do not match (issue 8: a padded ``%-10u`` took 16.7 s on a 40k line)
  the fast path and the grammar agree.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import SETTINGS, prefix_items, scaled, spec_text

from pgaudit_parse.prefix import KNOWN_PREFIXES, RDS_PREFIX, LinePrefix

try:  # Python 3.11+
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]

_MAXREPEAT = sre_parse.MAXREPEAT
_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT}
_SINGLE_CHAR = {sre_parse.LITERAL, sre_parse.NOT_LITERAL, sre_parse.IN, sre_parse.ANY}


def _merge_groups(subpattern: object) -> list[tuple[object, object]]:
    """The items of a parsed pattern with plain and capturing groups spliced in place
    (a group backtracks together with the scope around it)."""
    items: list[tuple[object, object]] = []
    for op, arg in subpattern:  # type: ignore[attr-defined]
        if op == sre_parse.SUBPATTERN:
            items += _merge_groups(arg[-1])
        elif op == sre_parse.ATOMIC_GROUP:
            items.append((op, _merge_groups(arg)))
        elif op == sre_parse.BRANCH:
            items.append((op, [_merge_groups(b) for b in arg[1]]))
        elif op in _REPEATS or op == sre_parse.POSSESSIVE_REPEAT:
            low, high, body = arg
            items.append((op, (low, high, _merge_groups(body), body)))
        else:
            items.append((op, arg))
    return items


def _backtracking_problems(items: list[tuple[object, object]], where: str = "top") -> list[str]:
    """Why a (merged) parsed regex may need more than linear time; empty: it cannot."""
    problems: list[str] = []
    unbounded_in_scope = 0
    for op, arg in items:
        if op in _REPEATS:
            low, high, body, raw = arg  # type: ignore[misc]
            if high == _MAXREPEAT:
                unbounded_in_scope += 1
                if len(raw) != 1 or raw[0][0] not in _SINGLE_CHAR:
                    problems.append(f"{where}: unbounded repeat of more than one character")
            problems += _backtracking_problems(body, where)
        elif op == sre_parse.POSSESSIVE_REPEAT:
            problems += _backtracking_problems(arg[2], where + "/possessive")  # type: ignore[index]
        elif op == sre_parse.ATOMIC_GROUP:
            problems += _backtracking_problems(arg, where + "/atomic")  # type: ignore[arg-type]
        elif op == sre_parse.BRANCH:
            for branch in arg:  # type: ignore[attr-defined]
                problems += _backtracking_problems(branch, where + "|")
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            if arg[1].getwidth()[1] >= _MAXREPEAT:  # type: ignore[index]
                problems.append(f"{where}: lookaround of unbounded width")
    if unbounded_in_scope > 1:
        problems.append(f"{where}: {unbounded_in_scope} unbounded repeats can trade characters")
    return problems


def _pattern_problems(pattern: str) -> list[str]:
    return _backtracking_problems(_merge_groups(sre_parse.parse(pattern, re.DOTALL)))


def _problems(prefix: LinePrefix) -> list[str]:
    return _pattern_problems(prefix.pattern.pattern)


#: Prefixes that took quadratic time on main (figures for 10k-character lines).
QUADRATIC_ON_MAIN = ("%m [%p] %-10u %d ", "%-10u@%d ", "%u%p ", "%u:%r:")


@pytest.mark.parametrize("spec", QUADRATIC_ON_MAIN + KNOWN_PREFIXES)
def test_fast_regex_cannot_backtrack_more_than_linearly(spec: str) -> None:
    assert _problems(LinePrefix(spec)) == []


@SETTINGS
@given(prefix_items())
def test_fast_regex_is_linear_for_every_generated_prefix(items: tuple[object, ...]) -> None:
    assert _problems(LinePrefix(spec_text(items))) == []  # type: ignore[arg-type]


def test_the_checker_sees_a_quadratic_pattern() -> None:
    # The rule catches the shape that was quadratic (two lazy runs and a run of spaces).
    assert _pattern_problems(r"(?>.*?[^\x00-\x7f].*? *(?=@))@")
    assert _pattern_problems(r"(?>.*?(?=\d+ ))")
    assert not _pattern_problems(r"(?>.*?(?=\d{1,10} ))")


#: Pieces of adversarial lines: separators, digits, non-ASCII, spaces, zones, brackets.
_LINE_UNITS = ("é", "a", " ", "1", ":", "@", "(", ")", "[", "]", "-", "/", ".", "U", "T",
               "C", "\t", "数", "LOG:  ")


def _adversarial_lines(size: int) -> list[str]:
    units = ["é", "a", " ", "1", "a:", "é ", "(", "a(1", "@", "[1]", "é@", "-03:"]
    return [(unit * size)[:size] for unit in units]


@pytest.mark.parametrize("spec", QUADRATIC_ON_MAIN + (RDS_PREFIX, "%-30t %-12u %5a "))
def test_fast_path_and_grammar_agree_on_long_lines_that_do_not_match(spec: str) -> None:
    prefix = LinePrefix(spec)
    head = "2026-11-25 16:05:01.120 UTC [7] " if spec.startswith("%m") else ""
    for line in _adversarial_lines(3000):
        assert prefix.parse(head + line) == prefix.parse_with_grammar(head + line)


# -- every escape of PostgreSQL 17 and 18 --------------------------------------------------

def test_local_address_escape_of_postgresql_18() -> None:
    prefix = LinePrefix("%m [%p] %q%L %u@%d ")
    parsed = prefix.parse("2026-11-25 16:05:01.120 UTC [7] 10.0.0.9 bob@shop LOG:  hi")
    assert parsed is not None
    assert parsed.fields == {"m": "2026-11-25 16:05:01.120 UTC", "p": "7", "L": "10.0.0.9",
                             "u": "bob", "d": "shop"}
    assert prefix.parse_with_grammar(
        "2026-11-25 16:05:01.120 UTC [7] 10.0.0.9 bob@shop LOG:  hi") == parsed


@pytest.mark.parametrize("escape", list("audrhbpPtmnieclsvxQL"))
def test_every_documented_escape_is_a_field(escape: str) -> None:
    assert LinePrefix(f"%{escape} ").escapes == (escape,)


def test_typed_values_from_the_grammar() -> None:
    spec = "%m %n %s [%p-%l] %c %v %x %e %Q %r %P "
    line = ("2026-11-25 16:05:01.120 CET 1764086701.120 2026-11-25 16:00:00 +05:30 "
            "[42-7] 6925d1ed.2a 3/17 0 42P01 -5 10.0.0.5(5000) 41 LOG:  x")
    values = LinePrefix(spec).values_with_grammar(line)
    assert values is not None
    assert values["m"] == datetime(2026, 11, 25, 16, 5, 1, 120000,
                                   tzinfo=timezone(timedelta(hours=1)))
    assert values["n"] == datetime(2025, 11, 25, 16, 5, 1, 120000, tzinfo=timezone.utc)
    assert values["s"].utcoffset() == timedelta(hours=5, minutes=30)
    assert (values["p"], values["l"], values["x"], values["Q"], values["P"]) == (42, 7, 0, -5, 41)
    assert values["c"] == (0x6925D1ED, 0x2A)
    assert values["v"] == (3, 17)
    assert values["e"] == "42P01"
    assert values["r"] == ("10.0.0.5", 5000)


def test_huge_padding_compiles_and_wider_than_an_int_is_a_prefix_error() -> None:
    # Issue 8 item 17: '%1000000000p' built a billion regex branches (a crash).
    from pgaudit_parse.prefix import PrefixError

    for spec in ("%1000000000p ", "%-1000000000p ", "%-1000000000u ", "%1000000000t "):
        prefix = LinePrefix(spec)
        assert prefix.parse("7 LOG:  x") == prefix.parse_with_grammar("7 LOG:  x")
    assert LinePrefix("%1000000000p ").parse("  7 LOG:  x").fields == {"p": "7"}  # type: ignore[union-attr]
    with pytest.raises(PrefixError, match="padding"):
        LinePrefix("%99999999999p ")


@scaled(0.3)
@given(prefix_items(), st.lists(st.sampled_from(_LINE_UNITS), min_size=1, max_size=4).map("".join),
       st.integers(50, 400))
def test_fast_path_and_grammar_agree_on_long_repetitive_lines(
        items: tuple[object, ...], unit: str, repeat: int) -> None:
    # Runs of one short unit are the lines that made backtracking regexes quadratic.
    prefix = LinePrefix(spec_text(items))  # type: ignore[arg-type]
    line = unit * repeat
    assert prefix.parse(line) == prefix.parse_with_grammar(line)
    line = unit * repeat + "LOG:  x"
    assert prefix.parse(line) == prefix.parse_with_grammar(line)

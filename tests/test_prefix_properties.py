"""Property tests of the ``log_line_prefix`` grammar (:class:`LinePrefix`).

(a) A line rendered the way PostgreSQL writes it, from a generated prefix and generated
    values, parses back to exactly those values, severity and message.
(b) The fast regex (:meth:`LinePrefix.parse`) and the pyparsing grammar
    (:meth:`LinePrefix.parse_with_grammar`) agree -- both None or equal -- on generated
    lines, on mutated ones and on arbitrary text with arbitrary prefixes. Issue 4's fast
    path rests on this equivalence.

Run: ``python -m pytest tests/test_prefix_properties.py -q`` (``CI=true`` for the CI
profile; see ``tests/strategies.py``).
"""

from __future__ import annotations

from hypothesis import assume, example, given
from hypothesis import strategies as st
from strategies import (
    SETTINGS,
    Escape,
    Literal,
    PrefixCase,
    arbitrary_lines,
    arbitrary_specs,
    mutated_lines,
    prefix_cases,
    prefix_items,
    scaled,
    spec_text,
)

from pgaudit_parse.prefix import (
    KNOWN_PREFIXES,
    RDS_PREFIX,
    LinePrefix,
    PrefixError,
    PrefixEscape,
    PrefixLiteral,
    tokenize_prefix,
)
from pgaudit_parse.timestamps import TimestampParser, parse_epoch

# Minimal examples kept explicit so that every run (also the derandomized CI one) tries
# them. Each was found by the properties below.

#: log_timezone America/Sao_Paulo prints "-03"; the client address follows after ':'.
NUMERIC_ZONE_BEFORE_DIGITS = PrefixCase(
    spec=RDS_PREFIX,
    line="2026-11-25 16:05:01 -03:10.0.0.5(5000):bob@db:[7]:LOG:  x",
    rendered_prefix="2026-11-25 16:05:01 -03:10.0.0.5(5000):bob@db:[7]:",
    fields={"t": "2026-11-25 16:05:01 -03", "r": "10.0.0.5(5000)", "u": "bob", "d": "db",
            "p": "7"},
    severity="LOG",
    message="x",
)
#: A TAB inside the first line of a message (e.g. SQL indented with tabs).
TAB_IN_MESSAGE = PrefixCase(
    spec=RDS_PREFIX,
    line="2026-11-25 16:05:01 UTC::@:[77]:STATEMENT:  select\t1",
    rendered_prefix="2026-11-25 16:05:01 UTC::@:[77]:",
    fields={"t": "2026-11-25 16:05:01 UTC", "r": "", "u": "", "d": "", "p": "77"},
    severity="STATEMENT",
    message="select\t1",
)
#: PostgreSQL's default prefix with a background process and a tabbed user name.
TAB_IN_USER = PrefixCase(
    spec="%m [%p] %q%u@%d ",
    line="2026-11-25 16:05:01.120 UTC [7] a\tb@shop LOG:  hi",
    rendered_prefix="2026-11-25 16:05:01.120 UTC [7] a\tb@shop ",
    fields={"m": "2026-11-25 16:05:01.120 UTC", "p": "7", "u": "a\tb", "d": "shop"},
    severity="LOG",
    message="hi",
)
#: A left-aligned padded user name, then a space (PostgreSQL pads "bob" to 10 bytes).
PADDED_USER_BEFORE_SPACE = PrefixCase(
    spec="%m [%p] %-10u %d ",
    line="2026-11-25 16:05:01.120 UTC [7] bob        shop LOG:  hi",
    rendered_prefix="2026-11-25 16:05:01.120 UTC [7] bob        shop ",
    fields={"m": "2026-11-25 16:05:01.120 UTC", "p": "7", "u": "bob", "d": "shop"},
    severity="LOG",
    message="hi",
)

#: The same padded user, empty, as a checkpointer writes it (u and d are empty for it).
PADDED_EMPTY_USER_BEFORE_SPACE = PrefixCase(
    spec="%-3u %d ",
    line="     LOG:  checkpoint starting: time",
    rendered_prefix="     ",
    fields={"u": "", "d": ""},
    severity="LOG",
    message="checkpoint starting: time",
    background=True,
)

#: A checkpointer line where a padded pid is followed by empty padded/unpadded fields.
PADDED_PID_BEFORE_EMPTY_FIELDS = PrefixCase(
    spec="%m %-5p %-10a %u ",
    line="2026-11-25 16:05:01.120 UTC 7" + " " * 17 + "LOG:  checkpoint starting",
    rendered_prefix="2026-11-25 16:05:01.120 UTC 7" + " " * 17,
    fields={"m": "2026-11-25 16:05:01.120 UTC", "p": "7", "a": "", "u": ""},
    severity="LOG",
    message="checkpoint starting",
    background=True,
)
#: An empty padded value at the end of the prefix, and a message quoting a severity.
PADDED_EMPTY_LAST_FIELD = PrefixCase(
    spec="%-3p %-3a",
    line="7      LOG:  a LOG:  b",
    rendered_prefix="7      ",
    fields={"p": "7", "a": ""},
    severity="LOG",
    message="a LOG:  b",
    background=True,
)

#: A padded timestamp, then an empty remote host (a checkpointer's line).
#: A numeric zone before %q, then a value of digits: '-03:30' is not the zone (the rest
#: would not follow), '-03' is; and the line of a background process stops at %q.
NUMERIC_ZONE_BEFORE_Q_AND_DIGITS = PrefixCase(
    spec="%b:%t:%m:%q%l:%a:%u:%p:",
    line="client backend:2026-11-25 16:05:01 -03:2026-11-25 16:05:01.123 -03:30:psql:bob:77:"
         "LOG:  x",
    rendered_prefix="client backend:2026-11-25 16:05:01 -03:2026-11-25 16:05:01.123 -03:30:"
                    "psql:bob:77:",
    fields={"b": "client backend", "t": "2026-11-25 16:05:01 -03",
            "m": "2026-11-25 16:05:01.123 -03", "l": "30", "a": "psql", "u": "bob", "p": "77"},
    severity="LOG",
    message="x",
)
NUMERIC_ZONE_AT_Q_OF_A_BACKGROUND_LINE = PrefixCase(
    spec="%m [%p] %q%l %u ",
    line="2026-11-25 16:05:01.123 +05:30 [7] LOG:  x",
    rendered_prefix="2026-11-25 16:05:01.123 +05:30 [7] ",
    fields={"m": "2026-11-25 16:05:01.123 +05:30", "p": "7"},
    severity="LOG",
    message="x",
    background=True,
)
PADDED_TIMESTAMP_BEFORE_EMPTY_HOST = PrefixCase(
    spec="%-30t %h ",
    line="2000-01-01 00:00:00 UTC" + " " * 9 + "LOG:  x",
    rendered_prefix="2000-01-01 00:00:00 UTC" + " " * 9,
    fields={"t": "2000-01-01 00:00:00 UTC", "h": ""},
    severity="LOG",
    message="x",
    background=True,
)

#: A right-aligned non-ASCII application name: PostgreSQL pads 'café' (5 bytes) to 10 bytes.
RIGHT_PADDED_NON_ASCII_BEFORE_SPACE = PrefixCase(
    spec="[%p] %10a %u ",
    line="[7]      café bob LOG:  x",
    rendered_prefix="[7]      café bob ",
    fields={"p": "7", "a": "café", "u": "bob"},
    severity="LOG",
    message="x",
)


@SETTINGS
@given(prefix_cases())
@example(NUMERIC_ZONE_BEFORE_DIGITS)
@example(TAB_IN_MESSAGE)
@example(TAB_IN_USER)
@example(PADDED_USER_BEFORE_SPACE)
@example(PADDED_EMPTY_USER_BEFORE_SPACE)
@example(PADDED_PID_BEFORE_EMPTY_FIELDS)
@example(PADDED_EMPTY_LAST_FIELD)
@example(PADDED_TIMESTAMP_BEFORE_EMPTY_HOST)
@example(RIGHT_PADDED_NON_ASCII_BEFORE_SPACE)
@example(NUMERIC_ZONE_BEFORE_Q_AND_DIGITS)
@example(NUMERIC_ZONE_AT_Q_OF_A_BACKGROUND_LINE)
def test_rendered_line_parses_back_to_its_values(case: PrefixCase) -> None:
    parsed = LinePrefix(case.spec).parse(case.line)
    assert parsed is not None, f"{case.spec!r} does not match {case.line!r}"
    assert parsed.fields == case.fields
    assert parsed.severity == case.severity
    assert parsed.message == case.message


@SETTINGS
@given(prefix_cases())
@example(NUMERIC_ZONE_BEFORE_DIGITS)
@example(TAB_IN_MESSAGE)
@example(TAB_IN_USER)
@example(PADDED_USER_BEFORE_SPACE)
@example(PADDED_EMPTY_USER_BEFORE_SPACE)
@example(PADDED_PID_BEFORE_EMPTY_FIELDS)
@example(PADDED_EMPTY_LAST_FIELD)
@example(PADDED_TIMESTAMP_BEFORE_EMPTY_HOST)
@example(RIGHT_PADDED_NON_ASCII_BEFORE_SPACE)
@example(NUMERIC_ZONE_BEFORE_Q_AND_DIGITS)
@example(NUMERIC_ZONE_AT_Q_OF_A_BACKGROUND_LINE)
def test_grammar_and_regex_agree_on_rendered_lines(case: PrefixCase) -> None:
    prefix = LinePrefix(case.spec)
    assert prefix.parse(case.line) == prefix.parse_with_grammar(case.line)


@SETTINGS
@given(mutated_lines())
@example(("%m [%p] ", "2026-11-25 16:05:01.120 UTC [7] LOG:  \tindented"))
def test_grammar_and_regex_agree_on_mutated_lines(spec_and_line: tuple[str, str]) -> None:
    spec, line = spec_and_line
    prefix = LinePrefix(spec)
    assert prefix.parse(line) == prefix.parse_with_grammar(line)


@SETTINGS
@given(st.one_of(st.sampled_from(KNOWN_PREFIXES), arbitrary_specs,
                 prefix_items().map(spec_text)),
       arbitrary_lines)
@example(RDS_PREFIX, "2026-11-25 16:05:01 UTC::@:[77]:LOG:  a\tb")
def test_grammar_and_regex_agree_on_arbitrary_text(spec: str, line: str) -> None:
    try:
        prefix = LinePrefix(spec)
    except PrefixError:
        assume(False)
        return
    assert prefix.parse(line) == prefix.parse_with_grammar(line)


@SETTINGS
@given(st.one_of(arbitrary_specs, st.text(max_size=20)))
@example("%5q")
@example("%m [%p] %-3q%u@%d ")
def test_any_spec_compiles_or_raises_prefix_error(spec: str) -> None:
    # PostgreSQL accepts any log_line_prefix (a padded %q is a %q); the CLI turns only
    # PrefixError into its one-line message, so nothing else may escape.
    try:
        prefix = LinePrefix(spec)
    except PrefixError:
        return
    for line in ("", "LOG:  x", spec + "LOG:  x"):
        assert prefix.parse(line) == prefix.parse_with_grammar(line)


@SETTINGS
@given(prefix_items())
def test_tokenizer_reads_back_generated_specs(items: tuple[Escape | Literal, ...]) -> None:
    expected = tuple(
        PrefixLiteral(item.text) if isinstance(item, Literal)
        else PrefixEscape(item.letter, item.padding)
        for item in items
    )
    assert tokenize_prefix(spec_text(items)) == expected


#: A user name holding a TAB (legal in a quoted role name), left-aligned to 12 bytes.
PADDED_VALUE_WITH_TAB = PrefixCase(
    spec="%-12u ",
    line="a\tb" + " " * 9 + " LOG:  x",
    rendered_prefix="a\tb" + " " * 9 + " ",
    fields={"u": "a\tb"},
    severity="LOG",
    message="x",
)


def test_padded_value_with_a_control_character_parses_back() -> None:
    # Found by test_rendered_line_parses_back_to_its_values ('%a:%-12u' with u='\x1f').
    case = PADDED_VALUE_WITH_TAB
    prefix = LinePrefix(case.spec)
    expected = (case.fields, case.severity, case.message)
    parsed = prefix.parse(case.line)
    assert parsed is not None and (parsed.fields, parsed.severity, parsed.message) == expected
    assert prefix.parse_with_grammar(case.line) == parsed


@scaled(0.5)
@given(prefix_cases())
def test_grammar_reads_each_value_as_what_it_is(case: PrefixCase) -> None:
    # The reference grammar's typed values (timestamps through python-dateutil's zones,
    # numbers, session ids, host and port) are the values the line was rendered from, and
    # what the events read off the fast path's fields (timestamps.TimestampParser's regex
    # split of a timestamp) is what the grammar's date, time and zone parts say.
    prefix = LinePrefix(case.spec)
    typed = prefix.values_with_grammar(case.line)
    assert typed == case.values
    parsed = prefix.parse(case.line)
    assert parsed is not None and typed is not None
    for escape in "tms":
        if escape in parsed.fields:
            assert TimestampParser()(parsed.fields[escape]) == typed[escape]
    if "n" in parsed.fields:
        assert parse_epoch(parsed.fields["n"]) == typed["n"]

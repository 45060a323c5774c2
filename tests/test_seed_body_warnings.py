"""A seed Lambda body (Python ``str(dict)``) with a backslash Python does not know as an
escape (``\\/``, as JSON writes a slash) is read without a SyntaxWarning: the CLI would
print it as a second line of its one-line error (found by test_fuzz_files)."""

from __future__ import annotations

import warnings

from pgaudit_parse.aws.messages import decode_message


def test_a_seed_body_with_an_unknown_escape_warns_nothing() -> None:
    body = "{'logStreamName': 's', 'timestamp': 1, 'message': 'a\\/b \\d'}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = decode_message(body)
    assert decoded.loose


def test_python_literal_keeps_an_unknown_escape_silently() -> None:
    from pgaudit_parse.sources import python_literal

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = python_literal("{'logGroup': '\\/aws/rds', 'm': 'a\\qb\\n'}")
    assert value == {"logGroup": "\\/aws/rds", "m": "a\\qb\n"}

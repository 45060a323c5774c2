"""The SQL layer: an exact PostgreSQL lexer, redaction, fingerprints, statement splits.

Pure functions over statement text; nothing here reads or writes anything.

>>> from pgaudit_parse.sql import redact, fingerprint, split_statements
>>> redact("create user bob password $pw$s3cret$pw$", "passwords")
'create user bob password <REDACTED>'
>>> redact("select * from t where email = 'a@b.com'", "literals")
'select * from t where email = $1'
>>> fingerprint("SELECT 1") == fingerprint("select 2 -- two")
True
>>> split_statements("select 1; select 'a;b'")
['select 1', "select 'a;b'"]
"""

from .constants import Constant, constant_value, find_constants
from .fingerprint import fingerprint, normalize, normalized_tokens
from .lexer import Token, TokenKind, tokenize
from .redact import (
    REDACT_MODES,
    REDACTED,
    RedactMode,
    has_credentials,
    redact,
    redact_detail,
    redact_literals,
    redact_parameters,
    redact_passwords,
)
from .split import Split, StatementMatcher, split_statements, statement_spans

__all__ = [
    "Constant",
    "REDACTED",
    "REDACT_MODES",
    "RedactMode",
    "Split",
    "StatementMatcher",
    "Token",
    "TokenKind",
    "constant_value",
    "find_constants",
    "fingerprint",
    "has_credentials",
    "normalize",
    "normalized_tokens",
    "redact",
    "redact_detail",
    "redact_literals",
    "redact_parameters",
    "redact_passwords",
    "split_statements",
    "statement_spans",
    "tokenize",
]

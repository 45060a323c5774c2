"""One-line explanations for the ways talking to AWS goes wrong.

boto3 raises a zoo of exceptions; a user needs one line saying what to check (the seed
guide's troubleshooting: credentials, ``aws sts get-caller-identity``, endpoint
reachability). :func:`explain` turns an exception into such a line; it never includes
credentials or message contents.

>>> from botocore.exceptions import NoCredentialsError
>>> explain(NoCredentialsError(), "reading log group /aws/rds/instance/db1/postgresql")[:40]
'no AWS credentials found while reading l'
"""

from __future__ import annotations

import re
from html import unescape

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

__all__ = ["AwsSetupError", "explain", "error_code", "error_message", "is_not_found",
           "is_denied", "hide_credentials", "is_log_file_gone"]

_CHECK_IDENTITY = "check the credentials with `aws sts get-caller-identity`"

# The one home of AWS error codes: every "not found", "bad credentials" and "denied" test
# in the package goes through is_not_found, is_denied and explain below.
_NOT_FOUND_CODES = frozenset({
    "ResourceNotFoundException",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "ParameterNotFound",
    "DBInstanceNotFound",
    "DBClusterNotFoundFault",
    "DBParameterGroupNotFound",
    "DBClusterParameterGroupNotFound",
})

_AUTH_CODES = frozenset({
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidSignatureException",
})

_DENIED_CODES = frozenset({
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "AWS.SimpleQueueService.AccessDenied",
})


_XML_FIELD = {name: re.compile(rf"<{name}>([^<]*)</{name}>") for name in ("Code", "Message")}

#: ``user:password@`` (or ``token@``) in a URL: an endpoint or queue URL may carry it.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@'\"]*@")


def hide_credentials(text: str) -> str:
    """``text`` with the user information of every URL in it replaced by ``***``.

    >>> hide_credentials("cannot reach http://bob:secret@127.0.0.1:4566/ (queue https://q)")
    'cannot reach http://***@127.0.0.1:4566/ (queue https://q)'
    """
    if "@" not in text:
        return text
    return _URL_USERINFO.sub(r"\1***@", text)


class AwsSetupError(Exception):
    """A problem the user fixes outside the program; ``str()`` is the one-line message
    (the user information of any URL in it is hidden: see :func:`hide_credentials`).

    >>> str(AwsSetupError("no AWS region: pass --region or set AWS_REGION"))
    'no AWS region: pass --region or set AWS_REGION'
    >>> str(AwsSetupError("invalid --endpoint-url 'http://u:pw@h:1'"))
    "invalid --endpoint-url 'http://***@h:1'"
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(hide_credentials(a) if isinstance(a, str) else a for a in args))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a client error ("" for any other exception).

    >>> error_code(ClientError({"Error": {"Code": "AccessDenied"}}, "GetQueueUrl"))
    'AccessDenied'
    """
    if not isinstance(exc, ClientError):
        return ""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if code.isdigit():  # an XML error document in a JSON answer: its code is in the text
        found = _XML_FIELD["Code"].search(str(error.get("Message", "")))
        if found:
            return found.group(1).strip()
    return code


def error_message(exc: BaseException) -> str:
    """The AWS error message of a client error (``str(exc)`` for any other exception).

    Some endpoints answer a JSON-protocol call with an XML error document; botocore then
    reports the HTTP status as the code and the whole document as the message: both are
    read from the document.

    >>> xml = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error>"
    >>> denied = ClientError({"Error": {"Code": "403", "Message": xml}}, "ReceiveMessage")
    >>> error_code(denied), error_message(denied)
    ('AccessDenied', 'no')
    """
    if not isinstance(exc, ClientError):
        return str(exc)
    message = str(exc.response.get("Error", {}).get("Message", ""))
    found = _XML_FIELD["Message"].search(message) if message.lstrip().startswith("<") else None
    return unescape(found.group(1)).strip() if found else message


def is_not_found(exc: BaseException) -> bool:
    """True for the "no such log group / queue / parameter / DB instance" client errors.

    >>> is_not_found(ClientError({"Error": {"Code": "DBInstanceNotFound"}}, "Describe"))
    True
    >>> is_not_found(ValueError())
    False
    """
    code = error_code(exc)
    return code in _NOT_FOUND_CODES or code.endswith(("NotFound", "NotFoundFault"))


def is_log_file_gone(exc: BaseException) -> bool:
    """True when RDS no longer has the log file (removed by retention while read).

    >>> is_log_file_gone(ClientError({"Error": {"Code": "DBLogFileNotFoundFault"}}, "Dl"))
    True
    >>> is_log_file_gone(ClientError({"Error": {"Code": "DBInstanceNotFound"}}, "Dl"))
    False
    """
    return error_code(exc) == "DBLogFileNotFoundFault"


def is_denied(exc: BaseException) -> bool:
    """True when IAM (or a resource policy) refused the call.

    >>> is_denied(ClientError({"Error": {"Code": "AccessDeniedException"}}, "FilterLogEvents"))
    True
    """
    code = error_code(exc)
    return code in _DENIED_CODES or "AccessDenied" in code or "Unauthorized" in code





def explain(exc: BaseException, doing: str) -> str:
    """One line: what failed (``doing``), why, and what to check.

    >>> explain(ValueError("odd"), "sending to queue q")
    'ValueError while sending to queue q: odd'
    """
    return hide_credentials(_explain(exc, doing))


def _explain(exc: BaseException, doing: str) -> str:
    if isinstance(exc, AwsSetupError):
        return str(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (f"no AWS credentials found while {doing}: set AWS_ACCESS_KEY_ID/"
                f"AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role, then "
                f"{_CHECK_IDENTITY}")
    if isinstance(exc, NoRegionError):
        return f"no AWS region while {doing}: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return (f"cannot reach the AWS endpoint while {doing}: check network access and "
                f"--endpoint-url ({_endpoint(exc)})")
    if isinstance(exc, ReadTimeoutError):
        return (f"the AWS endpoint stopped answering while {doing}: check network access and "
                f"--endpoint-url ({_endpoint(exc)})")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = _one_line(str(exc.response.get("Error", {}).get("Message", "")))
        if is_not_found(exc):  # AWS's message names what was not found
            said = f": {message}" if message else ""
            return f"not found while {doing} ({code}{said}): check the name and the region"
        if code in _AUTH_CODES:
            return f"AWS rejected the credentials while {doing} ({code}): {_CHECK_IDENTITY}"
        if is_denied(exc):
            return (f"access denied while {doing} ({code}): check the IAM policy of the "
                    f"identity shown by `aws sts get-caller-identity`")
        return f"AWS error while {doing} ({code}): {message or code}"
    if isinstance(exc, BotoCoreError):
        return f"AWS client error while {doing}: {_first_line(exc)}"
    return f"{type(exc).__name__} while {doing}: {_first_line(exc)}"


def _endpoint(exc: BaseException) -> str:
    kwargs = getattr(exc, "kwargs", {}) or {}
    return str(kwargs.get("endpoint_url") or "the default AWS endpoint")


def _one_line(text: str) -> str:
    """All of a message on one line (AWS validation messages span several)."""
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _first_line(exc: BaseException) -> str:
    return _one_line(str(exc)) or type(exc).__name__

"""A loopback HTTP stand-in for the two RDS log calls moto does not serve whole.

moto (5.2) implements DescribeDBLogFiles (one empty file per instance) but not
DownloadDBLogFilePortion, so the paging tests talk to this server instead: real HTTP on
127.0.0.1, boto3's own query-protocol requests and XML answers, the documented
semantics (``Marker`` "0" starts at the first line; ``NumberOfLines`` lines per portion;
``AdditionalDataPending``; the 1 MB cut, modelled as ``cut_over`` lines, with
``[Your log message was truncated]`` appended to the last line). Markers are opaque
``"<n>:<line>"`` texts, as RDS's are. Describe answers one file per page (``Marker``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

NS = "http://rds.amazonaws.com/doc/2014-10-31/"
TRUNCATED = " [Your log message was truncated]"


def _xml_text(text: str) -> str:
    # XML parsers turn a raw CR into LF: send it as a character reference.
    return escape(text).replace("\r", "&#13;")


@dataclass
class StubFile:
    lines: list[str]
    last_written: int


@dataclass
class RdsStub:
    """The server's state: files per instance, the portion cut, the requests seen."""

    files: dict[str, dict[str, StubFile]] = field(default_factory=dict)
    cut_over: int | None = None
    requests: list[dict[str, str]] = field(default_factory=list)
    endpoint: str = ""

    def answer(self, params: dict[str, str]) -> tuple[int, str]:
        self.requests.append(params)
        action = params.get("Action")
        instance = params.get("DBInstanceIdentifier", "")
        if instance not in self.files:
            return 404, self._error("DBInstanceNotFound", f"DBInstance {instance} not found.")
        files = self.files[instance]
        if action == "DescribeDBLogFiles":
            names = sorted(files)
            start = int(params.get("Marker") or 0)
            body = ""
            if start < len(names):
                name = names[start]
                f = files[name]
                size = sum(len(line.encode()) for line in f.lines)
                body = (f"<DescribeDBLogFilesDetails><LogFileName>{escape(name)}</LogFileName>"
                        f"<LastWritten>{f.last_written}</LastWritten><Size>{size}</Size>"
                        "</DescribeDBLogFilesDetails>")
            marker = f"<Marker>{start + 1}</Marker>" if start + 1 < len(names) else ""
            return 200, self._ok(action, f"<DescribeDBLogFiles>{body}</DescribeDBLogFiles>"
                                         f"{marker}")
        if action == "DownloadDBLogFilePortion":
            name = params.get("LogFileName", "")
            if name not in files:
                return 404, self._error("DBLogFileNotFoundFault", f"{name} not found")
            lines = files[name].lines
            marker = params.get("Marker", "0")
            start = 0 if marker == "0" else int(marker.split(":")[1])
            count = int(params.get("NumberOfLines", "10000"))
            chunk = lines[start:start + count]
            if self.cut_over is not None and len(chunk) > self.cut_over:
                # the 1 MB limit falls inside line cut_over + 1: it is cut there
                chunk = chunk[:self.cut_over + 1]
                last = chunk[-1].rstrip("\n")
                chunk[-1] = last[: len(last) // 2] + TRUNCATED + "\n"
            end = start + len(chunk)
            pending = "true" if end < len(lines) else "false"
            data = "".join(chunk)
            body = (f"<LogFileData>{_xml_text(data)}</LogFileData>"
                    f"<AdditionalDataPending>{pending}</AdditionalDataPending>"
                    f"<Marker>7:{end}</Marker>")
            return 200, self._ok(action, body)
        return 400, self._error("InvalidAction", f"{action} is not served by the stub")

    @staticmethod
    def _ok(action: str, body: str) -> str:
        return (f'<{action}Response xmlns="{NS}"><{action}Result>{body}</{action}Result>'
                f"<ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata>"
                f"</{action}Response>")

    @staticmethod
    def _error(code: str, message: str) -> str:
        return (f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{escape(message)}</Message></Error><RequestId>stub</RequestId>"
                "</ErrorResponse>")


def serve(stub: RdsStub) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the stub on 127.0.0.1 (a free port); ``stub.endpoint`` is its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
            params = {k: v[0] for k, v in form.items()}
            status, body = stub.answer(params)
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    return server, thread

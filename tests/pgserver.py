"""A throw-away PostgreSQL 15 + pgAudit server for tests, benchmarks and end-to-end runs.

The server lives in a fresh temporary directory, runs as the ``postgres`` OS user when the
caller is root (PostgreSQL refuses to run as root), listens on 127.0.0.1 and ::1 on a free
high port and on a unix socket inside the directory, asks TCP clients for a SCRAM password
(so failed logins really happen) and trusts the unix socket. The logging collector writes
the stderr format, the csvlog and the jsonlog to fixed file names, so a test can read the
server log and its csvlog answer key side by side.

>>> with PgServer(settings={"log_connections": "on"}) as pg:
...     _ = pg.run_sql("CREATE ROLE alice LOGIN PASSWORD 'secret'")
...     pg.run_sql("SELECT 1", user="alice", host="::1", password="secret").returncode
...     pg.stop()                       # waits until the collector has written everything
...     "connection authorized: user=alice" in pg.stderr_log_path.read_text()
0
True
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["PgServer", "PgServerError", "SqlResult", "BIN_DIR", "SOCKET", "free_port"]

#: Where Debian's postgresql-15 puts the server binaries.
BIN_DIR = Path(os.environ.get("PGAUDIT_PARSE_PG_BIN", "/usr/lib/postgresql/15/bin"))
#: Pass as ``host=`` to :meth:`PgServer.run_sql` to connect over the unix socket.
SOCKET = "socket"

#: Settings every server gets; callers' ``settings`` override them.
BASE_SETTINGS: dict[str, str] = {
    "logging_collector": "on",
    "log_destination": "stderr,csvlog,jsonlog",
    "log_filename": "postgresql.log",  # csvlog goes to postgresql.csv, jsonlog to .json
    "log_rotation_age": "0",
    "log_rotation_size": "0",
    "log_file_mode": "0644",
    "log_timezone": "UTC",
    "log_checkpoints": "off",  # background noise the tests do not ask for
    "fsync": "off",
    "shared_buffers": "16MB",
    "max_connections": "20",
    "password_encryption": "scram-sha-256",
}
_SHUTDOWN_MESSAGE = "database system is shut down"


class PgServerError(RuntimeError):
    """The server could not be set up, started or stopped; carries the tool's output."""


@dataclass(frozen=True, slots=True)
class SqlResult:
    """What ``psql`` (or another client) returned: exit code, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


def free_port() -> int:
    """A TCP port that is free on both 127.0.0.1 and ::1 right now.

    >>> 1024 < free_port() < 65536
    True
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind(("127.0.0.1", 0))
            port = v4.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as v6:
                    v6.bind(("::1", port))
            except OSError:
                continue
            return int(port)
    raise PgServerError("no TCP port free on both 127.0.0.1 and ::1")


def _quote_setting(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


class PgServer:
    """One PostgreSQL cluster in a temporary directory; a context manager.

    ``settings`` are written to ``postgresql.conf`` after :data:`BASE_SETTINGS`.
    ``superuser_password`` is the password of the ``postgres`` role over TCP (a random one
    by default; the unix socket needs none).

    Without ``with``::

        pg = PgServer(settings={"shared_preload_libraries": "pgaudit"}).start()
        try:
            pg.run_sql("SELECT 1")
            pg.stop()
        finally:
            pg.cleanup()
    """

    def __init__(
        self,
        settings: Mapping[str, object] | None = None,
        *,
        superuser_password: str | None = None,
        port: int | None = None,
        bin_dir: Path = BIN_DIR,
        keep: bool = False,
    ) -> None:
        self.settings: dict[str, object] = {**BASE_SETTINGS, **(settings or {})}
        self.superuser_password = superuser_password or secrets.token_hex(12)
        self.bin_dir = Path(bin_dir)
        self.keep = keep
        self.port = port or 0
        self.base_dir: Path | None = None
        self._running = False
        self._as_root = os.geteuid() == 0

    # -- paths --------------------------------------------------------------------------

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PgServerError("server not set up yet; call start() first")
        return self.base_dir

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self._base() / "data"

    @property
    def log_dir(self) -> Path:
        """Where the logging collector writes."""
        return self._base() / "log"

    @property
    def socket_dir(self) -> Path:
        """The unix socket directory (pass as ``-h`` to clients)."""
        return self._base() / "sock"

    @property
    def stderr_log_path(self) -> Path:
        """The server log in stderr format (what RDS publishes)."""
        return self.log_dir / str(self.settings["log_filename"])

    @property
    def csv_log_path(self) -> Path:
        """The csvlog of the same messages (PostgreSQL swaps ``.log`` for ``.csv``)."""
        name = str(self.settings["log_filename"])
        stem = name[:-4] if name.endswith(".log") else name
        return self.log_dir / (stem + ".csv")

    @property
    def json_log_path(self) -> Path:
        """The jsonlog of the same messages (PostgreSQL swaps ``.log`` for ``.json``)."""
        name = str(self.settings["log_filename"])
        stem = name[:-4] if name.endswith(".log") else name
        return self.log_dir / (stem + ".json")

    @property
    def startup_log_path(self) -> Path:
        """pg_ctl's own log: what the postmaster wrote before the collector took over."""
        return self._base() / "startup.log"

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self.cleanup()

    def _as_postgres(self, argv: Sequence[str]) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _run_tool(self, argv: Sequence[str], what: str, timeout: float = 120) -> str:
        proc = subprocess.run(
            self._as_postgres(argv), capture_output=True, text=True, timeout=timeout,
            cwd=self._base(), env=self._tool_env(),
        )
        if proc.returncode != 0:
            extra = ""
            if self.startup_log_path.exists():
                extra = "\n" + self.startup_log_path.read_text(errors="replace")[-4000:]
            raise PgServerError(
                f"{what} failed ({proc.returncode}): {proc.stdout}{proc.stderr}{extra}"
            )
        return proc.stdout

    def _tool_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        env["LANG"] = "C.UTF-8"
        return env

    def _chown(self, path: Path) -> None:
        if self._as_root:
            shutil.chown(path, user="postgres", group="postgres")

    def start(self) -> PgServer:
        """Create the cluster (first call only) and start it; returns ``self``."""
        if self._running:
            return self
        if self.base_dir is None:
            self._init_cluster()
        self._start_with_free_port()
        self._running = True
        atexit.register(self.cleanup)  # even if the caller never reaches stop()/cleanup()
        return self

    def _init_cluster(self) -> None:
        # As root the server runs as `postgres`, which must be able to reach the directory:
        # use /tmp rather than a TMPDIR that may sit under /root.
        parent = os.environ.get("PGAUDIT_PARSE_PG_TMP") or ("/tmp" if self._as_root else None)
        self.base_dir = Path(tempfile.mkdtemp(prefix="pgaudit-parse-pg-", dir=parent))
        try:
            os.chmod(self.base_dir, 0o755)
            self._chown(self.base_dir)
            for sub in (self.log_dir, self.socket_dir):
                sub.mkdir()
                self._chown(sub)
            pwfile = self._base() / "pwfile"
            pwfile.write_text(self.superuser_password + "\n")
            self._chown(pwfile)
            self._run_tool(
                [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                 "--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256",
                 "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                "initdb",
            )
            pwfile.unlink()
            (self.data_dir / "pg_hba.conf").write_text(
                "# written by tests/pgserver.py\n"
                "local all all trust\n"
                "host  all all 127.0.0.1/32 scram-sha-256\n"
                "host  all all ::1/128      scram-sha-256\n"
            )
        except BaseException:
            self.cleanup()
            raise

    def _write_conf(self) -> None:
        lines = ["", "# written by tests/pgserver.py"]
        conf = {
            **self.settings,
            "listen_addresses": "127.0.0.1,::1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "log_directory": str(self.log_dir),
        }
        for key, value in conf.items():
            lines.append(f"{key} = {_quote_setting(value)}")
        path = self.data_dir / "postgresql.auto.conf"
        path.write_text("\n".join(lines) + "\n")
        self._chown(path)

    def _start_with_free_port(self) -> None:
        fixed = self.port != 0
        last: PgServerError | None = None
        for _ in range(1 if fixed else 5):
            if not fixed:
                self.port = free_port()
            self._write_conf()
            try:
                self._run_tool(
                    [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                     str(self.startup_log_path), "-w", "-t", "60", "start"],
                    "pg_ctl start",
                )
                return
            except PgServerError as exc:  # a port race: pick another one
                last = exc
        raise last or PgServerError("pg_ctl start failed")

    def stop(self, timeout: float = 60) -> None:
        """Stop the server (fast mode) and wait until the collector has written its files.

        PostgreSQL's last message, ``database system is shut down``, passes through the
        logging collector like every other; once every file (stderr, csvlog, jsonlog)
        holds it, nothing more will be written.
        """
        if not self._running:
            return
        before = self.log_offsets()
        if "jsonlog" in str(self.settings.get("log_destination", "")):
            path = self.json_log_path
            before[path] = path.stat().st_size if path.exists() else 0
        self._run_tool(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
             "-t", str(int(timeout)), "stop"],
            "pg_ctl stop",
        )
        self._running = False
        atexit.unregister(self.cleanup)
        self.wait_for_log(_SHUTDOWN_MESSAGE, timeout=timeout, since=before)

    def _log_paths(self) -> list[Path]:
        paths = [self.stderr_log_path]
        if "csvlog" in str(self.settings.get("log_destination", "")):
            paths.append(self.csv_log_path)
        return paths

    def log_offsets(self) -> dict[Path, int]:
        """Current sizes of the log files, to wait for text written after this point."""
        return {p: (p.stat().st_size if p.exists() else 0) for p in self._log_paths()}

    def wait_for_log(self, text: str, timeout: float = 30,
                     since: dict[Path, int] | None = None) -> None:
        """Wait until ``text`` appears in the stderr log and in the csvlog (after the
        offsets ``since``, from :meth:`log_offsets`, if given).

        Use it with a marker message (e.g. ``RAISE LOG``) to read the logs of a running
        server; :meth:`stop` uses it with the shutdown message. Only new bytes are read,
        so it stays cheap on large logs.
        """
        needle = text.encode()
        paths = self._log_paths() + [p for p in (since or {}) if p not in self._log_paths()]
        offsets = {p: (since or {}).get(p, 0) for p in paths}
        found: set[Path] = set()
        deadline = time.monotonic() + timeout
        while True:
            for path, offset in offsets.items():
                if path in found or not path.exists():
                    continue
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                if needle in chunk:
                    found.add(path)
                else:  # keep an overlap so a needle split across reads is still seen
                    offsets[path] = max(offset, offset + len(chunk) - len(needle))
            if len(found) == len(offsets):
                return
            if time.monotonic() > deadline:
                raise PgServerError(f"log never showed {text!r} within {timeout}s: "
                                    f"{sorted(str(p) for p in offsets)}")
            time.sleep(0.05)

    def cleanup(self) -> None:
        """Stop the server if still running (immediate mode) and remove the directory."""
        atexit.unregister(self.cleanup)
        if self.base_dir is None:
            return
        if self._running:
            subprocess.run(
                self._as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                                   "-m", "immediate", "-w", "stop"]),
                capture_output=True, timeout=60, cwd=self.base_dir,
            )
            self._running = False
        if not self.keep:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    # -- clients ------------------------------------------------------------------------

    def client_env(self, password: str | None = None) -> dict[str, str]:
        """Environment for libpq clients: no inherited PG*, password via PGPASSWORD."""
        env = self._tool_env()
        env["PGCONNECT_TIMEOUT"] = "10"
        if password is not None:
            env["PGPASSWORD"] = password
        return env

    def host_arg(self, host: str | None) -> str:
        """The ``-h`` value: an address, or the socket directory for ``None``/``SOCKET``."""
        return str(self.socket_dir) if host in (None, SOCKET) else str(host)

    def dsn(self, *, user: str = "postgres", database: str = "postgres",
            host: str | None = None) -> str:
        """A libpq keyword DSN for this server (no password in it).

        >>> PgServer(port=5433).dsn(user="alice", database="shop", host="::1")
        'host=::1 port=5433 user=alice dbname=shop'
        """
        return (f"host={self.host_arg(host)} port={self.port} user={user} "
                f"dbname={database}")

    def run_sql(
        self,
        sql: str,
        *,
        user: str = "postgres",
        database: str = "postgres",
        host: str | None = None,
        password: str | None = None,
        check: bool = True,
        application_name: str | None = None,
        timeout: float = 120,
    ) -> SqlResult:
        """Run a SQL script through ``psql`` (one session), reading it from stdin.

        ``host`` is ``"127.0.0.1"``, ``"::1"`` or ``None``/:data:`SOCKET` for the unix
        socket. Statement errors do not stop the script (``ON_ERROR_STOP`` is off); with
        ``check`` a connection failure raises :class:`PgServerError`.
        """
        argv = [str(self.bin_dir / "psql"), "-X", "-q", "-w", "-v", "ON_ERROR_STOP=0",
                "-h", self.host_arg(host), "-p", str(self.port), "-U", user,
                "-d", database, "-f", "-"]
        env = self.client_env(password)
        if application_name is not None:
            env["PGAPPNAME"] = application_name
        proc = subprocess.run(argv, input=sql.encode(), capture_output=True, env=env,
                              timeout=timeout)
        result = SqlResult(proc.returncode, proc.stdout.decode(errors="replace"),
                           proc.stderr.decode(errors="replace"))
        if check and proc.returncode == 2:  # psql: connection failed
            raise PgServerError(f"psql could not connect as {user}@{host}: {result.stderr}")
        return result

    def run_client(self, argv: Sequence[str], *, password: str | None = None,
                   timeout: float = 120) -> SqlResult:
        """Run another client binary from :attr:`bin_dir` (e.g. ``pgbench``) with
        this server's environment; ``argv[0]`` is the binary name.

        For example ``pg.run_client(["pgbench", "-n", "-t", "1", ...], password=...)``.
        """
        proc = subprocess.run([str(self.bin_dir / argv[0]), *argv[1:]], capture_output=True,
                              env=self.client_env(password), timeout=timeout)
        return SqlResult(proc.returncode, proc.stdout.decode(errors="replace"),
                         proc.stderr.decode(errors="replace"))

"""The real components of the chaos suite: a PostgreSQL cluster of its own and gateway
processes.

`OwnPostgres` runs initdb into a temporary folder and serves on a free 127.0.0.1 port with
its unix socket in that folder, so a scenario can stop and start it without touching the
machine's server. When the suite runs as root it runs the PostgreSQL binaries as the
`postgres` user (initdb refuses root). `GatewayProcess` is `sentiment gateway` in a
subprocess of its own process group, configured only through its environment, as an
operator would run it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.commands import SENTIMENT, command_environment, sentiment

PG_BIN_ENV = "CHAOS_PG_BIN"
"""A folder holding initdb and pg_ctl; default: PATH, then /usr/lib/postgresql/<newest>/bin."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_pg_bin() -> Path | None:
    """The folder with the PostgreSQL server binaries, or None when there is none."""
    candidates = [os.environ.get(PG_BIN_ENV, "")]
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    candidates += sorted(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


class OwnPostgres:
    """One PostgreSQL cluster in a temporary folder: `init()`, `start()`, `stop()`, `destroy()`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not under pytest's tmp dir: as root that is mode 0700, closed to `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="sentiment-chaos-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self._user = "postgres" if os.geteuid() == 0 else None

    def _as_user(self) -> list[str]:
        # runuser rather than subprocess's `user=`: switching user in the child forces a
        # plain fork(), whose atfork handlers crash now and then while gRPC threads run
        # (seen here: the child died with SIGSEGV before exec). Without it, vfork is used.
        return ["runuser", "-u", self._user, "--"] if self._user else []

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self._as_user(), str(self.bin_dir / args[0]), *args[1:]],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:1])} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.log_tail()}"
            )
        return result

    def init(self) -> OwnPostgres:
        self.sockets.mkdir()
        if self._user is not None:
            account = pwd.getpwnam(self._user)
            for path in (self.root, self.sockets):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.sockets}'",
            # The suite tests the gateway's durability, not the database's: no fsync.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: connections are cut, a clean shutdown)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    @property
    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        result = subprocess.run(
            [*self._as_user(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"],
            cwd=self.root,
            capture_output=True,
        )
        return result.returncode == 0

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.running:
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def create_key(state: Path, database_url: str, name: str) -> str:
    """`sentiment keys create NAME` on `database_url` (migrating it first); the token."""
    done = sentiment(state, "keys", "create", name, SENTIMENT_DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[0].strip()


class GatewayProcess:
    """`sentiment gateway` in its own process group; settings through `env` only."""

    def __init__(self, name: str, state: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.state = state
        self.port = free_port()
        self.metrics_port = free_port()
        self.env = command_environment(
            state,
            SENTIMENT_GATEWAY_HOST="127.0.0.1",
            SENTIMENT_GATEWAY_PORT=str(self.port),
            SENTIMENT_GATEWAY_METRICS_PORT=str(self.metrics_port),
            PYTHONUNBUFFERED="1",
            **env,
        )
        self.log = state / f"gateway-{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> GatewayProcess:
        self.state.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [SENTIMENT, "gateway"],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_serving(self, timeout: float = 90.0) -> GatewayProcess:
        """Block until grpc.health.v1 says SERVING (Triton ready, audit log accepting)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"gateway {self.name} exited with {self.process.returncode}:\n"
                        f"{self.log_tail()}"
                    )
                with contextlib.suppress(grpc.RpcError):
                    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"gateway {self.name} not SERVING after {timeout:.0f}s:\n{self.log_tail()}"
                    )
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the whole process group: no flush, no lease release."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def terminate(self) -> None:
        """SIGTERM, as a supervisor stops a task: the gateway drains and flushes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Graceful stop if still running (SIGKILL when it does not exit in time)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()

    def metric(self, name: str) -> float | None:
        """The sum of the samples of metric `name` (`name` or `name_total`); None if absent."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        values = []
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            sample, _, value = line.rpartition(" ")
            base = sample.split("{", 1)[0]
            if base in (name, f"{name}_total"):
                values.append(float(value))
        return sum(values) if values else None

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

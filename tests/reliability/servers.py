"""Private redis-servers with persistence, passwords, ACL users and TLS for the reliability tests.

``RedisServer`` (tests/support) starts a plain, non-persistent server and takes no extra server
arguments. These subclasses give it a tiny wrapper script as its binary: the script runs the
real ``redis-server`` with the harness's arguments followed by ours. Redis reads command-line
options in order and the last value of an option wins, so ``--appendonly yes`` after the
harness's ``--appendonly no`` turns AOF on, and ``--port 0`` after ``--port N`` closes the
plain TCP port of a TLS-only server.
"""

from __future__ import annotations

import shlex
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import HOST, RedisServer, find_redis_server, free_port
from tests.support.requirements import need, redis_supports_tls

USER = "jobs"
PASSWORD = "s3cret-jobs"
ADMIN_PASSWORD = "s3cret-default"


class ConfiguredRedisServer(RedisServer):
    """A ``RedisServer`` started with ``extra_args`` appended to the harness's own."""

    def __init__(self, extra_args: list[str], *, workdir: Path | None = None) -> None:
        workdir = workdir or Path(tempfile.mkdtemp("-redis"))
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        wrapper = workdir / "redis-server-wrapper.sh"
        words = " ".join(shlex.quote(arg) for arg in self.server_args(port, extra_args))
        wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(find_redis_server())} "$@" {words}\n')
        wrapper.chmod(0o755)
        super().__init__(str(wrapper), port=port, workdir=workdir)

    def server_args(self, port: int, extra_args: list[str]) -> list[str]:
        """Arguments appended after the harness's (subclasses add theirs)."""
        return list(extra_args)


class AofRedisServer(ConfiguredRedisServer):
    """Append-only file on, fsync on every write: an acknowledged write survives SIGKILL."""

    def __init__(self, *, workdir: Path | None = None) -> None:
        super().__init__(["--appendonly", "yes", "--appendfsync", "always"], workdir=workdir)

    @property
    def aof_exists(self) -> bool:
        """Whether Redis has written its append-only file(s) in the working directory."""
        return any(self.workdir.glob("appendonly*"))


class SecureRedisServer(ConfiguredRedisServer):
    """The default user needs a password; clients log in as an ACL user; optionally TLS only.

    With ``tls=True`` the only port is a TLS port with a self-signed certificate for
    127.0.0.1 (made here with ``openssl req -x509``); clients verify it against that file.
    """

    def __init__(self, *, tls: bool, workdir: Path | None = None) -> None:
        workdir = workdir or Path(tempfile.mkdtemp("-redis"))
        workdir.mkdir(parents=True, exist_ok=True)
        if tls:  # skipped on a machine without them, a failure under CI=true
            need(redis_supports_tls, f"redis-server {find_redis_server()} was built without TLS "
                 "(Debian's redis-server has it: apt-get install redis-server)")  # fmt: skip
            need(shutil.which("openssl") is not None, "no openssl (apt-get install openssl)")
        self.tls = tls
        self.cert_path = workdir / "redis-cert.pem"
        self.key_path = workdir / "redis-key.pem"
        if tls:
            make_certificate(self.cert_path, self.key_path)
        super().__init__([], workdir=workdir)

    def server_args(self, port: int, extra_args: list[str]) -> list[str]:
        args = [
            "--requirepass", ADMIN_PASSWORD,
            "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all",
        ]  # fmt: skip
        if self.tls:
            args += [
                "--port", "0",
                "--tls-port", str(port),
                "--tls-cert-file", str(self.cert_path),
                "--tls-key-file", str(self.key_path),
                "--tls-ca-cert-file", str(self.cert_path),
                "--tls-auth-clients", "no",
            ]  # fmt: skip
        return args + extra_args

    def url(self, db: int = 0) -> str:
        """``redis[s]://jobs:<password>@127.0.0.1:PORT/db`` (no TLS options in the URL)."""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{USER}:{PASSWORD}@{HOST}:{self.port}/{db}"

    def ssl_options(self) -> dict[str, Any]:
        """``broker_use_ssl`` for kombu (the same keys redis-py takes); empty without TLS."""
        if not self.tls:
            return {}
        return {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(self.cert_path)}

    def client(self, db: int = 0, **kwargs: Any) -> redis.Redis:
        """A client logged in as the ACL user, over TLS when the server is TLS-only."""
        kwargs.setdefault("socket_connect_timeout", 2.0)
        kwargs.setdefault("socket_timeout", 10.0)
        kwargs.setdefault("username", USER)
        kwargs.setdefault("password", PASSWORD)
        if self.tls:
            kwargs.setdefault("ssl", True)
            for key, value in self.ssl_options().items():
                kwargs.setdefault(key, value)
        return redis.Redis(host=HOST, port=self.port, db=db, **kwargs)


def make_certificate(cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate and key for 127.0.0.1 (subjectAltName IP:127.0.0.1)."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key_path), "-out", str(cert_path),
            "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip

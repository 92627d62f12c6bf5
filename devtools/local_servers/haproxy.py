"""HAProxy with the production edge's configuration (deploy/haproxy/haproxy.cfg) in front of
API nodes on 127.0.0.1; from Debian's package (`.ci/run` installs it)."""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .ports import closed_port
from .programs import find_program, stop, wait_until_listening

ROOT = Path(__file__).resolve().parents[2]
EDGE_CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


def haproxy_binary() -> str:
    return find_program("haproxy", "haproxy", "this runs the production edge")


def nodes_config(nodes: dict[str, int], admin_socket: Path) -> str:
    """The part of the configuration that names the API nodes (haproxy.cfg's header says how),
    and a runtime API socket to read their state from."""
    servers = "".join(f"    server {name} 127.0.0.1:{port}\n" for name, port in nodes.items())
    return (
        f"global\n    stats socket {admin_socket} mode 600 level admin\n\n"
        f"backend api from api\n{servers}"
    )


@dataclass
class Edge:
    process: subprocess.Popen[bytes]
    port: int
    admin_socket: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ask(self, command: str) -> str:
        """A command to HAProxy's runtime API, its answer."""
        with socket.socket(socket.AF_UNIX) as admin:
            admin.settimeout(5)
            admin.connect(str(self.admin_socket))
            admin.sendall(command.encode() + b"\n")
            answer = b""
            while chunk := admin.recv(65536):
                answer += chunk
        return answer.decode()

    def node_states(self) -> dict[str, str]:
        """Each API node's state as the edge sees it: UP, DOWN, MAINT, ..."""
        lines = self.ask("show stat").lstrip("# ").splitlines()
        columns = lines[0].split(",")
        rows = [dict(zip(columns, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            row["svname"]: row["status"].split(" ")[0]
            for row in rows
            if row["pxname"] == "api" and row["svname"] not in ("FRONTEND", "BACKEND")
        }


@contextmanager
def edge(
    nodes: dict[str, int],
    *,
    port: int | None = None,
    max_header_bytes: int = 65536,
    client_header_timeout_seconds: int = 10,
    directory: Path | None = None,
) -> Iterator[Edge]:
    """HAProxy listening on 127.0.0.1:`port` (a free one by default), in front of `nodes`
    (name: port on 127.0.0.1); its log in `directory` (a temporary one by default)."""
    binary = haproxy_binary()
    work = directory or Path(tempfile.mkdtemp(prefix="modulith-edge-"))
    port = port or closed_port()
    admin_socket = work / "haproxy-admin.sock"
    nodes_file = work / "haproxy-nodes.cfg"
    nodes_file.write_text(nodes_config(nodes, admin_socket))
    environment = {
        **os.environ,
        "EDGE_BIND": f"127.0.0.1:{port}",
        "MAX_HEADER_BYTES": str(max_header_bytes),
        "CLIENT_HEADER_TIMEOUT_SECONDS": str(client_header_timeout_seconds),
    }
    log = work / "haproxy.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [binary, "-f", str(EDGE_CONFIG), "-f", str(nodes_file)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(process, port, log.read_text)
        yield Edge(process, port, admin_socket, log)
    finally:
        stop(process)
        if directory is None:
            shutil.rmtree(work, ignore_errors=True)

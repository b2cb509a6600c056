"""A real standalone Milvus server (the `milvus` package) on this machine, for the tests
(tests/conftest.py) and benchmarks/scale_out.py: `running(DATA)` starts one with every
port a free one and its data under DATA, and stops it after. The server process is
this file run as a script, on the ports given, until SIGTERM:

    python benchmarks/milvus_server.py DATA '{"proxy_port": 19530, …, "metrics": …, "etcd_peer": …}'

Not `milvus-server`: that command leaves the metrics port at 9091 and the embedded
etcd's peer port at 2380 whatever holds them, so that a second server on one machine
(two test runs) fails to start. Here etcd gets a config file of its own.
"""

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

# Its listening ports (config keys), its metrics port and its embedded etcd's peer port.
PORTS = ("etcd_port", "root_coord_port", "proxy_port", "proxy_internal_port", "query_coord_port", "query_node_port",
         "index_coord_port", "index_node_port", "data_coord_port", "data_node_port", "metrics", "etcd_peer")  # fmt: skip


class NotStarted(RuntimeError):
    pass


@contextlib.contextmanager
def running(data: pathlib.Path, timeout_s: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """A server while the block runs: (its URI, its process). NotStarted, with the end
    of its log, when the `milvus` package is missing or the server does not answer."""
    try:
        import milvus  # noqa: F401
        from pymilvus import MilvusClient
    except ImportError as e:
        raise NotStarted(f"no Milvus server package ({e}; pip install milvus==2.3.5)") from None
    ports = {}
    for name in PORTS:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports[name] = s.getsockname()[1]
    data.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, __file__, str(data / "data"), json.dumps(ports)],
        stdout=open(data / "log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{ports['proxy_port']}"
    started = time.monotonic()
    try:
        while True:
            try:
                MilvusClient(uri=uri, timeout=2).list_collections()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if server.poll() is not None or time.monotonic() - started > timeout_s:
                    logs = data / "data" / "logs" / "milvus-stdout.log"
                    tail = logs.read_text(errors="replace")[-2000:] if logs.exists() else ""
                    raise NotStarted(f"the Milvus server did not start: {tail}") from None
                time.sleep(1)
        yield uri, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # stops the server it started
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # anything left of it


def main() -> None:
    import milvus
    from milvus import MilvusServer, MilvusServerConfig

    data, ports = pathlib.Path(sys.argv[1]), json.loads(sys.argv[2])
    data.mkdir(parents=True, exist_ok=True)
    client, peer = f"http://127.0.0.1:{ports['etcd_port']}", f"http://127.0.0.1:{ports.pop('etcd_peer')}"
    etcd = data / "embedEtcd.yaml"
    etcd.write_text(
        f"name: default\ndata-dir: {data / 'etcd.data'}\n"
        f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n"
        f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\ninitial-cluster: default={peer}\n"
    )
    package = pathlib.Path(milvus.__file__).parent / "data"
    template = (package / "config.yaml.template").read_text()
    template = template.replace("  use:\n    embed: true", f"  config:\n    path: {etcd}\n  use:\n    embed: true", 1)
    (data / "milvus.yaml.template").write_text(template)
    config = MilvusServerConfig(template=str(data / "milvus.yaml.template"))
    config.glog_conf_file = str(package / "glog.conf")  # set only for the package's own template
    server = MilvusServer(config)
    server.set_base_dir(str(data))
    server.webservice_port = ports.pop("metrics")
    for key, port in ports.items():
        server.config.set(key, port)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    server.start()
    server.wait()


if __name__ == "__main__":
    main()

"""Run a real standalone Milvus server (the `milvus` package) for the tests, on the
ports given, with its data under DATA, until SIGTERM:

    python tests/milvus_server.py DATA '{"proxy_port": 19530, …, "metrics": …, "etcd_peer": …}'

Not `milvus-server`: that command leaves the metrics port at 9091 and the embedded
etcd's peer port at 2380 whatever holds them, so that a second server on one machine
(two test runs) fails to start. Here etcd gets a config file of its own.
"""

import json
import pathlib
import signal
import sys

import milvus
from milvus import MilvusServer, MilvusServerConfig


def main() -> None:
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

"""`kuchikomi es start|stop|status`: the local Elasticsearch node; `es status -c FILE`: the configured cluster."""
from __future__ import annotations

import sys

from kuchikomi.commands import connect_elasticsearch, fail, load_monitor, table


def add_parser(sub, default_config: str):
    es = sub.add_parser("es", help="manage the local Elasticsearch node, or see the configured cluster")
    es.add_argument("action", choices=["start", "stop", "status"])
    es.add_argument("--port", type=int, help="HTTP port (default 9200, or a free one)")
    es.add_argument("--config", "-c", help="status: the server or cluster this monitor config's "
                                           "elasticsearch.url names, its version and nodes")
    return es


def run(args) -> None:
    from index.storage.node import LocalNode, NodeError
    node = LocalNode.default()
    if args.action == "start":
        try:
            print(f"starting Elasticsearch {node.home} ...", file=sys.stderr)
            print(node.start(port=args.port))
        except NodeError as exc:
            fail(str(exc), 1)
    elif args.action == "stop":
        print("stopped" if node.stop() else "not running")
    elif args.config:
        cluster_status(args.config)
    elif node.is_running():
        print(f"running at {node.url} (home {node.home})")
    else:
        print(f"not running (home {node.home})")
        sys.exit(3)


def cluster_status(config: str) -> None:
    """What the server is, how the cluster is and which nodes are in it; exit status 3 when it is red."""
    from index.storage.client import ES_ERRORS, cluster_urls
    es_config = load_monitor(config).elasticsearch
    client = connect_elasticsearch(es_config, write=False)
    server = client.transport.server
    try:
        health = client.cluster.health()
        nodes = client.cat.nodes(format="json", h="name,http_address,node.role,master")
    except ES_ERRORS as exc:
        fail(f"{server} at {', '.join(cluster_urls(es_config))} answered GET / but not the cluster's health: {exc}",
             1)
    compatibility = f", REST compatibility {server.compatible_with}" if server.compatible_with else ""
    print(f"{server}{compatibility}: cluster {health['cluster_name']} {health['status']}, "
          f"{health['number_of_nodes']} nodes, {health['unassigned_shards']} unassigned shards")
    print(table(["name", "http_address", "node.role", "master"], sorted(nodes, key=lambda n: n["name"])))
    if health["status"] == "red":
        sys.exit(3)

"""Scale-out on Ray Serve (`vasa-bridge serve --ray`, docs/cluster.md).

    config.py     ClusterConfig: replicas or autoscaling bounds, the replicas' sidecar settings, Ray resources
    registry.py   a named Ray actor where replicas post their ZeroMQ endpoints and session counts
    replica.py    the Serve deployment: one sidecar (transport/) per replica + the WebSocket ingress that pumps a
                  client's connection to it, so a connection and its sessions stay on one replica for life
    directory.py  the ZeroMQ front door: answers `hello` with `assign` naming the least-loaded replica (SPEC §8.6)
    app.py        start Ray and the Serve application, run the directory, shut everything down

Ray is imported only here, and only when a cluster is started: the rest of the package never needs it.
"""

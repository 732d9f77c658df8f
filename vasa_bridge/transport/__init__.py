"""The sidecar's transport: protocol messages (messages.py), the server (server.py) and its two bindings."""

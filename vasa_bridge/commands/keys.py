"""`vasa-bridge keys DIR`: create the CURVE key pair that secures the ZeroMQ binding beyond loopback."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="directory for server.key (public, give to clients) and server.key_secret")
    parser.add_argument("--client", metavar="NAME", help="create a client key pair NAME.key / NAME.key_secret instead")
    parser.add_argument("--force", action="store_true", help="overwrite existing keys")


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    import zmq
    import zmq.auth

    from vasa_bridge.transport.errors import SidecarConfigError

    if not zmq.has("curve"):
        raise SidecarConfigError("this libzmq was built without CURVE support")
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    name = args.client or "server"
    public_file, secret_file = out / f"{name}.key", out / f"{name}.key_secret"
    if (public_file.exists() or secret_file.exists()) and not args.force:
        raise SidecarConfigError(f"{public_file} already exists; pass --force to replace it")
    for f in (public_file, secret_file):
        f.unlink(missing_ok=True)
    public_file, secret_file = zmq.auth.create_certificates(str(out), name)
    os.chmod(secret_file, 0o600)
    public = zmq.auth.load_certificate(public_file)[0].decode()
    print(f"wrote {public_file} (public key {public}) and {secret_file} (keep private)")
    return 0

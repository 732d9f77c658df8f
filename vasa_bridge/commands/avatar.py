"""`vasa-bridge avatar export|preview`: write the demo head (glTF + mesh JSON) or a PNG preview of it."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="avatar_command", required=True, metavar="ACTION")
    export = sub.add_parser("export", help="write DIR/vasa_head.glb and DIR/vasa_head.mesh.json",
                            description="Write the procedural head with the 52 ARKit blend shapes: "
                                        "DIR/vasa_head.glb (Godot, Blender) and DIR/vasa_head.mesh.json (Unity).")
    export.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="output directory")
    export.add_argument("--dense-targets", action="store_true",
                        help="write morph targets as plain (non-sparse) accessors: larger, for readers "
                             "without sparse-accessor support")
    preview = sub.add_parser("preview", help="render the neutral head and a few blend shapes to a PNG")
    preview.add_argument("-o", "--out", type=Path, required=True, metavar="PNG", help="output image (.png)")
    preview.add_argument("--size", type=int, default=360, help="pixels per panel (default 360)")


def run(args: argparse.Namespace) -> int:
    from vasa_bridge.avatar import AvatarError, build_avatar  # noqa: PLC0415

    if args.avatar_command == "preview":  # check the arguments before spending time on the mesh
        if args.size < 64 or args.size > 2048:
            raise AvatarError(f"--size {args.size} is out of range; use 64..2048 pixels per panel")
        if args.out.suffix.lower() != ".png":
            raise AvatarError(f"preview writes PNG; give an output name ending in .png (got {args.out})")
    elif args.out.exists() and not args.out.is_dir():
        raise AvatarError(f"{args.out} exists and is not a directory; pass a writable -o DIR")
    meshes = build_avatar()
    if args.avatar_command == "export":
        from vasa_bridge.avatar.gltf import write_avatar  # noqa: PLC0415

        glb, js = write_avatar(meshes, args.out, dense_targets=args.dense_targets)
        counts = ", ".join(f"{m.name} {len(m.vertices)} vertices/{len(m.blendshapes)} shapes" for m in meshes)
        print(f"wrote {glb} ({glb.stat().st_size / 1024:.0f} KiB) and {js} ({js.stat().st_size / 1024:.0f} KiB): "
              f"{counts}")
        return 0
    from vasa_bridge.avatar.preview import render_preview  # noqa: PLC0415

    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        render_preview(list(meshes), args.out, size_px=args.size)
    except OSError as e:
        raise AvatarError(f"cannot write {args.out}: {e.strerror or e}") from e
    print(f"wrote {args.out}")
    return 0

"""`vasa-bridge` command line. Each subcommand lives in vasa_bridge/commands/<name>.py with two functions:
`add_arguments(parser)` and `run(args) -> int`. Command modules import heavy libraries inside `run`, so
`vasa-bridge --help` stays instant."""

from __future__ import annotations

import argparse
import importlib
import sys

from vasa_bridge.errors import VasaBridgeError

# name -> (module under vasa_bridge.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "speak a line, animate it, and write the results (what `make demo` runs)"),
    "bake": ("bake", "bake a speech file to a face-animation clip (Live Link Face CSV or JSON)"),
    "phones": ("phones", "print phone timings for a line (espeak-ng) or a wav + transcript (forced alignment)"),
    "datagen": ("datagen", "build the training corpus: many voices, teacher motion, augmentation"),
    "bench": ("bench", "measure speed and print a table (or --json)"),
    "avatar": ("avatar", "write the demo head with the 52 ARKit blend shapes (.glb + mesh JSON) or a preview PNG"),
    "serve": ("serve", "run the sidecar: stream face motion for many sessions over ZeroMQ and WebSocket"),
    "stream": ("stream", "play a speech file into a sidecar session and save the motion clip that comes back"),
    "loadtest": ("loadtest", "load/abuse test a sidecar: sessions sustained and lateness, with and without a flooder"),
    "keys": ("keys", "create CURVE keys that secure the sidecar's ZeroMQ binding beyond loopback"),
    "animate": ("animate", "animate a portrait photo with speech: a talking-face mp4 (and a frame strip)"),
    "eval-render": ("eval_render", "measure rendered frames with the face mesh: lip gap, blinks, gaze, background"),
    "train": ("train", "train the audio-to-motion diffusion model (resumable)"),
    "eval": ("eval", "evaluate the motion model against the amplitude baseline and the teacher"),
    "export": ("export", "export the motion model's denoiser to ONNX"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vasa-bridge", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"vasa_bridge.commands.{module_name}")
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except VasaBridgeError as e:
        print(f"vasa-bridge {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vasa-bridge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

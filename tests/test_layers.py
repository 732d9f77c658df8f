"""The package's layering, read from its imports with `ast` (nothing is imported, lazy imports count too).

The dependency order of docs/architecture.md: motion ← audio ← model ← sampling ← runtime ← transport/protocol
(a stage imports only stages left of it); the client never imports server code; library code never imports the
tools (commands, bench, train, cli). And the size limits that keep each file readable top to bottom."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

import vasa_bridge

PACKAGE = Path(vasa_bridge.__file__).parent
TOOLS = {"commands", "bench", "train", "cli", "__main__"}
# Rank along the data path; a module may import only packages of a lower or equal rank among these.
STAGE_RANK = {"motion": 0, "audio": 1, "model": 2, "sampling": 3, "runtime": 4, "transport": 5, "protocol": 5}
# Server code: the sidecar and the motion model it runs. The client (and the protocol it shares with the server)
# never pulls it in, so a game-side tool can use the client without torch, onnxruntime or the server.
SERVER = {"transport", "runtime", "model", "sampling"}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100
# (module path relative to the package, function name): why it may be longer. Keep this short.
LONG_FUNCTIONS: dict[tuple[str, str], str] = {}


def _part(module: str) -> str:
    """'vasa_bridge.runtime.diffusion' -> 'runtime'; the package itself -> ''."""
    return module.split(".")[1] if module.count(".") else ""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=1)
def imports() -> dict[str, set[str]]:
    """Every module of the package → the vasa_bridge modules (or names in them) it imports, anywhere in it."""
    out: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vasa_bridge"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: use absolute imports (the layering test reads them)")
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("vasa_bridge"))
        out[_module_name(path)] = found
    return out


def _violations(rule) -> list[str]:
    return sorted(f"{m} imports {t}" for m, targets in imports().items() for t in targets if rule(m, t))


def test_the_import_reader_sees_lazy_imports_inside_functions():
    # runtime/diffusion.py imports its engines inside DiffusionBackend.__init__ (no torch at import time)
    assert "vasa_bridge.runtime.diffusion_engines" in imports()["vasa_bridge.runtime.diffusion"]


def test_library_code_never_imports_the_tools():
    def rule(m: str, t: str) -> bool:
        return _part(m) not in TOOLS and _part(t) in TOOLS

    assert _violations(rule) == []


def test_each_stage_imports_only_the_stages_before_it():
    def rule(m: str, t: str) -> bool:
        a, b = _part(m), _part(t)
        return a in STAGE_RANK and b in STAGE_RANK and STAGE_RANK[b] > STAGE_RANK[a]

    assert _violations(rule) == []


def test_the_client_and_the_protocol_never_import_server_code():
    def rule(m: str, t: str) -> bool:
        return _part(m) in ("client", "protocol") and _part(t) in SERVER

    assert _violations(rule) == []


def test_the_model_never_imports_its_export():
    """model/ is what export/ serialises; the other direction made a cycle (the untrained-model helper)."""
    assert _violations(lambda m, t: _part(m) == "model" and _part(t) == "export") == []


def test_every_benchmark_group_is_a_bench_module_with_one_entry_point():
    from vasa_bridge.bench import BENCHMARKS

    for name in BENCHMARKS:
        source = (PACKAGE / "bench" / f"{name}.py").read_text(encoding="utf-8")
        assert f"\ndef bench_{name}(quick: bool = False)" in source, name


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_at_most_500_lines_and_functions_at_most_100(path: Path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path}: split it along its sections"
    rel = str(path.relative_to(PACKAGE))
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (rel, node.name) not in LONG_FUNCTIONS:
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{rel}:{node.lineno} {node.name} is {length} lines"


def test_the_allow_list_names_only_functions_that_exist_and_are_long():
    for (rel, name), reason in LONG_FUNCTIONS.items():
        tree = ast.parse((PACKAGE / rel).read_text(encoding="utf-8"))
        lengths = [n.end_lineno - n.lineno + 1 for n in ast.walk(tree)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
        assert lengths and max(lengths) > MAX_FUNCTION_LINES and reason, (rel, name)


def test_the_diffusion_backend_drives_its_streams_only_through_public_methods():
    """runtime/ is the one streaming scheduler: `DiffusionBackend.step` calls the stream's scheduling methods, it
    does not reach into the stream's private state (it used to drive five private methods)."""
    tree = ast.parse((PACKAGE / "runtime" / "diffusion.py").read_text(encoding="utf-8"))
    backend = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DiffusionBackend")
    private = sorted({f"{n.value.id}.{n.attr}" for n in ast.walk(backend) if isinstance(n, ast.Attribute)
                      and n.attr.startswith("_") and isinstance(n.value, ast.Name) and n.value.id != "self"})
    assert private == []

"""Write Unity .meta files for the package's importable files (everything outside folders ending in "~").

Unity needs a .meta (with a stable GUID) next to every asset of a package; it cannot write them into an
immutable package. GUIDs are derived from the path, so re-running this script changes nothing. Run it after
adding a file under Runtime/ or at the package root:  python unity_sample/make_meta.py
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "Packages" / "com.vasabridge.client"

IMPORTERS = {
    ".cs": "MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n  executionOrder: 0\n"
           "  icon: {instanceID: 0}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n",
    ".asmdef": "AssemblyDefinitionImporter:\n  externalObjects: {}\n  userData: \n  assetBundleName: \n"
               "  assetBundleVariant: \n",
    ".shader": "ShaderImporter:\n  externalObjects: {}\n  defaultTextures: []\n  nonModifiableTextures: []\n"
               "  userData: \n  assetBundleName: \n  assetBundleVariant: \n",
    # A .jslib is linked into WebGL players only (Emscripten library); no other platform or the editor loads it.
    ".jslib": "PluginImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  iconMap: {}\n  executionOrder: {}\n"
              "  defineConstraints: []\n  isPreloaded: 0\n  isOverridable: 0\n  isExplicitlyReferenced: 0\n"
              "  validateReferences: 1\n  platformData:\n"
              "  - first:\n      Any: \n    second:\n      enabled: 0\n      settings: {}\n"
              "  - first:\n      Editor: Editor\n    second:\n      enabled: 0\n      settings:\n"
              "        DefaultValueInitialized: true\n"
              "  - first:\n      WebGL: WebGL\n    second:\n      enabled: 1\n      settings: {}\n"
              "  userData: \n  assetBundleName: \n  assetBundleVariant: \n",
}
TEXT = "TextScriptImporter:\n  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
FOLDER = "folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n"


def guid(rel: str) -> str:
    return hashlib.md5(("com.vasabridge.client/" + rel).encode()).hexdigest()


def wanted(path: Path) -> bool:
    rel = path.relative_to(PACKAGE)
    return not any(part.endswith("~") or part.startswith(".") for part in rel.parts) and path.suffix != ".meta"


def main() -> None:
    expected = set()
    for path in sorted(PACKAGE.rglob("*")):
        if not wanted(path):
            continue
        rel = path.relative_to(PACKAGE).as_posix()
        body = FOLDER if path.is_dir() else IMPORTERS.get(path.suffix, TEXT)
        meta = path.with_name(path.name + ".meta")
        expected.add(meta)
        meta.write_text(f"fileFormatVersion: 2\nguid: {guid(rel)}\n{body}", encoding="utf-8")
    for meta in PACKAGE.rglob("*.meta"):
        rel = meta.relative_to(PACKAGE)
        if meta not in expected and not any(part.endswith("~") for part in rel.parts):
            meta.unlink()  # its asset is gone

if __name__ == "__main__":
    main()

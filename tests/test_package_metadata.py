"""What the Python package, the Unity package and the Godot addon say about themselves: license, protocol
version, links. The Godot Asset Library and Unity's Package Manager show these to users."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UNITY = REPO / "unity_sample" / "Packages" / "com.vasabridge.client"
GODOT = REPO / "godot_sample" / "addons" / "vasa_bridge"
PROTOCOL_VERSION = (REPO / "protocol" / "VERSION").read_text().strip()


def test_mit_license_ships_at_the_root_and_in_each_engine_package():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"]["text"] == "MIT"
    package = json.loads((UNITY / "package.json").read_text())
    assert package["license"] == "MIT"
    texts = [(REPO / "LICENSE").read_text(), (UNITY / "LICENSE.md").read_text(), (GODOT / "LICENSE").read_text()]
    assert texts[0].startswith("MIT License\n") and "Permission is hereby granted, free of charge" in texts[0]
    assert texts[1] == texts[0] and texts[2] == texts[0]


def test_engine_package_descriptions_name_the_protocol_version():
    package = json.loads((UNITY / "package.json").read_text())
    plugin = (GODOT / "plugin.cfg").read_text()
    assert f"protocol {PROTOCOL_VERSION}" in package["description"]
    assert re.search(rf'^description=".*protocol {re.escape(PROTOCOL_VERSION)}\b', plugin, re.M)


def test_unity_package_links_are_real_urls_or_absent():
    """Without documentationUrl / changelogUrl the Package Manager shows the package's own Documentation~ and
    CHANGELOG.md; an empty string gives a dead link."""
    package = json.loads((UNITY / "package.json").read_text())
    for key in ("documentationUrl", "changelogUrl", "licensesUrl"):
        if key in package:
            assert re.match(r"https?://\S+$", package[key]), f"{key}: {package[key]!r}"
    assert (UNITY / "Documentation~" / "index.md").is_file() and (UNITY / "CHANGELOG.md").is_file()


def test_wheel_includes_the_rig_preset_table():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["vasa_bridge"]
    assert any(fnmatch.fnmatch("interop/rig_presets.json", p) for p in patterns)

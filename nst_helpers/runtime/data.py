"""Sample images: content photos, style textures and three paintings, all bundled.

The bundled files live in the repository's ``data/`` folder, so the course works offline.
The three classic paintings are bundled at most 512 px on the long side; their full-size
originals are downloaded when asked for (``sample_path(name, full_size=True)``), checked
against a known SHA256 and cached (``NST_DATA_DIR`` or the OS cache folder).
``data/README.md`` lists where every image comes from and its licence.

    >>> list_samples("content")
    ['chelsea', 'coffee', 'astronaut', 'rocket']
    >>> sample_path("chelsea").name
    'chelsea.jpg'
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

# pooch is imported inside the functions that need it: ``import nst_helpers`` stays cheap
DATA_DIR: Path = Path(__file__).resolve().parents[2] / "data"  # nst_helpers/runtime/ -> repo

KINDS = ("content", "style")

# pinned to a commit, so the bytes (and therefore the hashes) cannot change under us
_PAINTINGS_URL = (
    "https://raw.githubusercontent.com/jcjohnson/neural-style/"
    "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46/examples/inputs/"
)


class SampleUnavailableError(RuntimeError):
    """A full-size painting could not be downloaded or failed its checksum."""


@dataclass(frozen=True)
class Sample:
    """One sample image, bundled under ``DATA_DIR``; a painting's full-size original can be
    fetched from ``url`` (SHA256 ``sha256``)."""

    name: str
    kind: str  # "content" or "style"
    filename: str  # relative to DATA_DIR
    title: str
    source: str
    licence: str
    url: str | None = None  # the full-size original, when there is one online
    sha256: str | None = None

    @property
    def bundled(self) -> bool:
        """True: every sample ships with the repository (a painting at most 512 px)."""
        return True

    @property
    def fetchable(self) -> bool:
        """True when a full-size original can be downloaded (``sample_path(full_size=True)``)."""
        return self.url is not None

    @property
    def cache_name(self) -> str:
        """The full-size original's file name in ``cache_dir()``."""
        return Path(self.url or self.filename).name


_SKIMAGE = "scikit-image sample data, copied by scripts/copy_content.py"
_GENERATED = "drawn by scripts/make_styles.py"
_NEURAL_STYLE = (
    "jcjohnson/neural-style example inputs, shrunk to 512 px by scripts/copy_paintings.py"
)

# fmt: off
SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in [
        Sample("chelsea", "content", "content/chelsea.jpg", "Chelsea the cat",
               f"{_SKIMAGE} (skimage.data.chelsea)", "CC0"),
        Sample("coffee", "content", "content/coffee.jpg", "A cup of espresso",
               f"{_SKIMAGE} (skimage.data.coffee)", "CC0"),
        Sample("astronaut", "content", "content/astronaut.jpg", "Astronaut Eileen Collins",
               f"{_SKIMAGE} (skimage.data.astronaut), NASA", "public domain"),
        Sample("rocket", "content", "content/rocket.jpg", "Falcon 9 launching DSCOVR",
               f"{_SKIMAGE} (skimage.data.rocket), SpaceX", "public domain"),
        Sample("brush_strokes", "style", "style/brush_strokes.jpg",
               "Swirling oil brush strokes", f"{_GENERATED}, seed 1", "CC0"),
        Sample("mosaic", "style", "style/mosaic.jpg", "Roman mosaic tesserae",
               f"{_GENERATED}, seed 2", "CC0"),
        Sample("ink_wash", "style", "style/ink_wash.jpg", "Sumi-e ink wash",
               f"{_GENERATED}, seed 3", "CC0"),
        Sample("pointillism", "style", "style/pointillism.jpg", "Pointillist dots",
               f"{_GENERATED}, seed 4", "CC0"),
        Sample("starry_night", "style", "style/starry_night.jpg",
               "The Starry Night, Vincent van Gogh (1889)", _NEURAL_STYLE, "public domain",
               _PAINTINGS_URL + "starry_night.jpg",
               "0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098"),
        Sample("the_scream", "style", "style/the_scream.jpg", "The Scream, Edvard Munch (1893)",
               _NEURAL_STYLE, "public domain", _PAINTINGS_URL + "the_scream.jpg",
               "f3075cddeb974a9ee1d6418f7f33fd05185a7ac7dcb4288bd2805d499a9dcaee"),
        Sample("shipwreck", "style", "style/shipwreck.jpg", "The Shipwreck, J. M. W. Turner (1805)",
               _NEURAL_STYLE, "public domain", _PAINTINGS_URL + "shipwreck.jpg",
               "4f7cf34e3cd4a5daaf3f421f059ca9a01aaa2a3afd7243d6670c9c8bc001a213"),
    ]
}
# fmt: on


def list_samples(kind: str | None = None, bundled_only: bool = False) -> list[str]:
    """Sample names, optionally only one kind ("content"/"style") or only the bundled ones
    (all of them, now that the paintings ship at 512 px)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {KINDS} (or None for all)")
    return [
        s.name
        for s in SAMPLES.values()
        if (kind is None or s.kind == kind) and (s.bundled or not bundled_only)
    ]


def is_sample(name: object) -> bool:
    """True if name is the name of a sample (no I/O, safe to call on anything)."""
    return isinstance(name, str) and name in SAMPLES


def _get(name: str) -> Sample:
    if not is_sample(name):
        raise ValueError(f"Unknown sample {name!r}; valid names are: {', '.join(SAMPLES)}")
    return SAMPLES[name]


def sample_path(name: str, progress: bool = True, full_size: bool = False) -> Path:
    """Local path of a sample: the bundled file (offline, a painting at most 512 px).

    ``full_size=True`` gives a painting's original instead, downloaded once (``progress``
    shows a bar) and cached: ``fetch_painting``. Raises ``ValueError`` for a sample that has
    no full-size original online.
    """
    sample = _get(name)
    if full_size:
        return fetch_painting(name, progress=progress)
    path = DATA_DIR / sample.filename
    if not path.is_file():
        # happens with a wheel install: data/ lives in the repository, not in the package
        raise FileNotFoundError(
            f"Sample {name!r} should be at {path} but is missing. The sample images live in "
            "the repository's data/ folder: clone the repository and install it with "
            "`pip install -e .` so that nst_helpers can find them."
        )
    return path


def cache_dir() -> Path:
    """Where fetched paintings are cached: $NST_DATA_DIR if set, else the OS cache folder."""
    env = os.environ.get("NST_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("nst-course"))


def _copy_file_url(
    url: str, output_file: str, pooch: object = None, check_only: bool = False
) -> bool | None:
    """A pooch downloader for file:// URLs, which pooch itself does not support."""
    src = Path(url2pathname(urlparse(url).path))
    if check_only:
        return src.is_file()
    shutil.copyfile(src, output_file)
    return None


def _unavailable(sample: Sample, url: str, reason: str) -> SampleUnavailableError:
    bundled = ", ".join(list_samples(bundled_only=True))
    return SampleUnavailableError(
        f"Could not fetch the full-size painting {sample.name!r} ({sample.title}) from {url}: "
        f"{reason}. The bundled copy (at most 512 px) works offline: load_image({sample.name!r})"
        f"; so do the other bundled samples: {bundled}. Or download the image yourself and "
        "pass its file path."
    )


def fetch_painting(name: str, progress: bool = True, url: str | None = None) -> Path:
    """Download a painting's full-size original once (checking its SHA256), cache it and
    return the cached path.

    ``url`` overrides the sample's URL, e.g. a ``file://`` mirror. Any failure raises
    ``SampleUnavailableError`` and leaves no partial or corrupt file in the cache.
    """
    sample = _get(name)
    if not sample.fetchable:
        raise ValueError(
            f"{name!r} is bundled and has no full-size original online; use sample_path({name!r})"
        )
    import pooch

    url = url or sample.url
    assert url is not None
    downloader = _copy_file_url if url.startswith("file:") else None
    try:
        # pooch downloads to a temporary file and only moves it into place once the hash
        # matches, so a failed or tampered download never lands in the cache
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{sample.sha256}",
            fname=sample.cache_name,
            path=cache_dir(),
            downloader=downloader,
            progressbar=progress,
        )
    except ValueError as err:
        if "hash" in str(err).lower():
            reason = (
                "the download does not match its known SHA256, so the file was corrupted or "
                "changed upstream; it was not kept in the cache"
            )
            raise _unavailable(sample, url, reason) from err
        raise _unavailable(sample, url, str(err)) from err
    except Exception as err:  # no network, DNS, HTTP 404, disk full: all mean "not now"
        raise _unavailable(sample, url, f"{type(err).__name__}: {err}") from err
    return Path(path)

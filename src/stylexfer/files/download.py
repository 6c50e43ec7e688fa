"""`stylexfer download NAME`: fetch a public pretrained model, check it, import it into our format.

Files are fetched by pooch (a temporary file in the cache folder, renamed to its final name only when
complete and, where a SHA-256 is recorded, matching it; a failed attempt is retried). A failed or
corrupted download leaves nothing under the final name. This is the project's one HTTP downloader
(scripts/download_coco.py uses it too).

SHA-256 values: none of the upstream projects publishes checksums, and this project was built on
machines without internet, so no hash could be verified here. Entries therefore carry
``sha256=None`` ("unverified"): the download is still checked for completeness, and its SHA-256 is
printed so it can be compared or pinned (``STYLEXFER_SHA256_<NAME>`` overrides, see below).
We do not invent hashes.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from stylexfer.errors import StylexferError, one_line
from stylexfer.files.atomic import atomic_open, check_output_folder


class DownloadError(StylexferError, OSError):
    """A download that failed, was cut short or does not match its checksum."""


@dataclass(frozen=True)
class Asset:
    url: str
    filename: str  # name in the cache's downloads/ folder
    sha256: str | None = None  # None: unverified (no published checksum)
    member: str | None = None  # for zip archives: the file wanted inside (matched by base name)


@dataclass(frozen=True)
class PublicModel:
    kind: str  # the `stylexfer import` kind that reads these files
    assets: tuple[Asset, ...]
    description: str


def public_models() -> dict[str, PublicModel]:
    """Every installed family's public weights (`Family.public_models`), by download name."""
    from stylexfer.registry import families, load_target

    return {name: entry for family in families() if family.public_models
            for name, entry in load_target(family.public_models).items()}


def takes_style(entry: PublicModel) -> bool:
    """Whether the family that imports `entry` stylizes with a style image."""
    from stylexfer.registry import families

    return any(family.needs_style for family in families() if entry.kind in family.importers)

MAX_MEMBER_BYTES = 2 << 30  # no public model is near this; a bigger file in an archive is refused
RETRIES = 2  # a failed download is tried again this many times (pooch waits 1 s, then 2 s)


def default_cache_dir() -> Path:
    """$STYLEXFER_CACHE, else $XDG_CACHE_HOME/stylexfer, else ~/.cache/stylexfer."""
    if os.environ.get("STYLEXFER_CACHE"):
        return Path(os.environ["STYLEXFER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stylexfer"


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int | None = None,
) -> Path:
    """Fetch `url` into `dest` with pooch: complete (the announced length) and, when `sha256` is
    given, matching it, or nothing under `dest`. An existing `dest` that matches `sha256` (or any
    existing one when no hash is given) is reused. DownloadError, one line, after `retries` retries
    (default RETRIES)."""
    import pooch
    import requests

    dest = Path(dest)
    _make_folder(dest.parent)
    existed = dest.is_file()
    fetcher = pooch.create(
        path=dest.parent,
        base_url="",
        registry={dest.name: f"sha256:{sha256.lower()}" if sha256 else None},
        urls={dest.name: url},
        retry_if_failed=RETRIES if retries is None else retries,
    )
    # pooch's own Logger (not logging.getLogger("pooch")) prints every download on the stderr it saw at
    # import: our lines say what happened
    pooch.get_logger().setLevel(logging.CRITICAL)
    try:
        fetcher.fetch(dest.name, downloader=pooch.HTTPDownloader(progressbar=progress, timeout=timeout))
    except requests.exceptions.ChunkedEncodingError as err:
        raise DownloadError(f"{url}: download cut short; try again") from err
    except requests.exceptions.RequestException as err:
        response = getattr(err, "response", None)
        reason = f"HTTP {response.status_code} {response.reason}" if response is not None else one_line(err)
        raise DownloadError(
            f"cannot download {url} ({reason}); check the connection, or fetch the file by "
            "hand and use `stylexfer import`"
        ) from err
    except ValueError as err:  # pooch's hash check (or a URL it cannot fetch)
        if "hash" not in str(err):
            raise DownloadError(f"cannot download {url} ({one_line(err)})") from err
        raise DownloadError(
            f"{url}: SHA-256 mismatch (expected {sha256}); the file is corrupt or was changed upstream; not used"
        ) from err
    except OSError as err:
        raise DownloadError(f"{dest}: cannot write the download ({one_line(err)})") from err
    if sha256 is None and not existed:
        print(
            f"stylexfer: note: {dest.name} has no recorded checksum (unverified); "
            f"its SHA-256 is {pooch.file_hash(str(dest))}",
            file=sys.stderr,
        )
    return dest


def _make_folder(folder: Path) -> None:
    """The download folder, made if missing; a file in the way or a read-only place is one line."""
    check_output_folder(folder, create=True, error=DownloadError)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"{folder}: cannot create the download folder ({one_line(err)})") from err


def _extract_member(archive: Path, member: str, dest: Path) -> Path:
    """Copy one file out of a zip (matched by base name; nothing else is extracted, so no path in
    the archive can point outside the cache)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if Path(i.filename).name == member and not i.is_dir()]
            if not infos:
                raise DownloadError(f"{archive}: has no {member}; the archive changed upstream")
            info = infos[0]
            if info.file_size > MAX_MEMBER_BYTES:
                raise DownloadError(f"{archive}: {member} claims {info.file_size} bytes; refused")
            with zf.open(info) as src, atomic_open(dest) as out:
                shutil.copyfileobj(src, out)
    except zipfile.BadZipFile as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(
            f"{archive}: not a valid zip archive ({err}); removed, run the download again"
        ) from err
    return dest


def fetch_model(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    models: dict[str, PublicModel] | None = None,
) -> Path:
    """Download (once) and import the public model `name`; returns the path of our .safetensors file.
    A hash can be pinned without code changes: STYLEXFER_SHA256_<NAME>_<FILENAME> (upper case, - and .
    as _)."""
    from stylexfer.files.convert import import_files
    from stylexfer.files.modelfile import write_safetensors

    models = public_models() if models is None else models
    if name not in models:
        raise DownloadError(f"unknown model {name!r}; available: {', '.join(models)}")
    entry = models[name]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"{name}.safetensors"
    if target.is_file():
        return target
    _make_folder(cache / "downloads")  # a file in the way or a read-only cache: one line, first
    files = []
    for asset in entry.assets:
        env = (
            f"STYLEXFER_SHA256_{name}_{asset.filename}".upper().replace("-", "_").replace(".", "_")
        )
        path = download_file(
            asset.url,
            cache / "downloads" / asset.filename,
            sha256=os.environ.get(env) or asset.sha256,
            progress=progress,
        )
        if asset.member:
            path = _extract_member(path, asset.member, cache / "downloads" / asset.member)
        files.append(path)
    weights = import_files(entry.kind, files)
    return write_safetensors(weights, target, overwrite=True)

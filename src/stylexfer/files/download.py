"""`stylexfer download NAME`: fetch a public pretrained model, check it, import it into our format.

Every file is streamed to a temporary name in the cache folder, hashed on the way, and renamed to its
final name only when complete (Content-Length) and, where a SHA-256 is recorded, matching it. A failed
or corrupted download leaves nothing under the final name. This is the project's one HTTP downloader
(scripts/download_coco.py uses it with ``resume=True``: a kept ``.part`` file continued by HTTP Range).

SHA-256 values: none of the upstream projects publishes checksums, and this project was built on
machines without internet, so no hash could be verified here. Entries therefore carry
``sha256=None`` ("unverified"): the download is still checked for completeness, and its SHA-256 is
printed so it can be compared or pinned (``STYLEXFER_SHA256_<NAME>`` overrides, see below).
We do not invent hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from stylexfer.errors import StylexferError, one_line
from stylexfer.files.atomic import atomic_open, check_output_folder, commit, temporary_path


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
    kind: str  # "fast-neural-style" or "adain" (the `stylexfer import` kind)
    assets: tuple[Asset, ...]
    description: str


# pytorch/examples fast_neural_style/download_saved_models.py fetches this archive.
_FNS_ZIP = "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1"
# naoto0804/pytorch-AdaIN release v0.0.0 assets.
_ADAIN = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"


def _fns(member: str, what: str) -> PublicModel:
    return PublicModel(
        "fast-neural-style",
        (Asset(_FNS_ZIP, "fast_neural_style_saved_models.zip", None, member),),
        f"fast-neural-style {what} (pytorch/examples; fixed style; unverified hash)",
    )


MODELS: dict[str, PublicModel] = {
    "mosaic": _fns("mosaic.pth", "mosaic"),
    "candy": _fns("candy.pth", "candy"),
    "rain-princess": _fns("rain_princess.pth", "rain princess"),
    "udnie": _fns("udnie.pth", "udnie"),
    "adain": PublicModel(
        "adain",
        (
            Asset(f"{_ADAIN}/vgg_normalised.pth", "vgg_normalised.pth"),
            Asset(f"{_ADAIN}/decoder.pth", "decoder.pth"),
        ),
        "AdaIN arbitrary style (naoto0804/pytorch-AdaIN release: Caffe VGG-19 + decoder; unverified hash)",
    ),
}

MAX_DOWNLOAD_BYTES = 2 << 30  # no public model is near this; a server sending more is refused
_CHUNK = 1 << 16


def default_cache_dir() -> Path:
    """$STYLEXFER_CACHE, else $XDG_CACHE_HOME/stylexfer, else ~/.cache/stylexfer."""
    if os.environ.get("STYLEXFER_CACHE"):
        return Path(os.environ["STYLEXFER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stylexfer"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    resume: bool = False,
    max_bytes: int | None = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Stream `url` to `dest` atomically; verify length and (when given) SHA-256. An existing `dest`
    that matches `sha256` (or any existing one when no hash is given) is reused.

    resume: keep an interrupted download as `<dest>.part` and continue it next time (HTTP Range;
    started over when the server ignores Range), for big archives. max_bytes: refuse a server that
    sends more (None: no limit)."""
    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256.lower()):
        return dest
    _make_folder(dest.parent)
    part = dest.with_name(f"{dest.name}.part") if resume else temporary_path(dest)
    start = part.stat().st_size if resume and part.is_file() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        response = urllib.request.urlopen(  # noqa: S310 (http/https URLs of our list)
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except (urllib.error.URLError, OSError, ValueError) as err:
        code = getattr(err, "code", None)
        reason = f"HTTP {code} {getattr(err, 'reason', '')}" if code else getattr(err, "reason", err)
        raise DownloadError(
            f"cannot download {url} ({reason}); check the connection, or fetch the file by "
            "hand and use `stylexfer import`"
        ) from err
    done = False
    try:
        with response:
            if start and response.status != 206:  # the server ignored Range: start over
                start = 0
            digest = hashlib.sha256()
            if start:
                with open(part, "rb") as previous:
                    for block in iter(lambda: previous.read(_CHUNK), b""):
                        digest.update(block)
            length = response.headers.get("Content-Length")
            total = int(length) + start if length and length.isdigit() else None
            with open(part, "ab" if start else "wb") as handle:
                received = _stream(response, handle, digest, url, start, total, dest.name,
                                   progress, max_bytes)
        if total is not None and received != total:
            again = "run again to resume" if resume else "try again"
            raise DownloadError(f"{url}: download cut short ({received} of {total} bytes); {again}")
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            resume = False  # a corrupt partial file must not be continued
            raise DownloadError(
                f"{url}: SHA-256 mismatch (got {actual}, expected {sha256.lower()}); the file is "
                "corrupt or was changed upstream; not used"
            )
        if sha256 is None:
            print(
                f"stylexfer: note: {dest.name} has no recorded checksum (unverified); "
                f"its SHA-256 is {actual}",
                file=sys.stderr,
            )
        commit(part, dest)
        done = True
        return dest
    except OSError as err:
        if isinstance(err, DownloadError):
            raise
        raise DownloadError(f"{dest}: cannot write the download ({one_line(err)})") from err
    finally:
        if not done and not resume:
            with contextlib.suppress(OSError):
                part.unlink()


def _stream(response, handle, digest, url, start, total, name, progress, max_bytes) -> int:  # noqa: ANN001, PLR0913
    """Copy the response body into `handle`, hashing it; returns the bytes now in the file."""
    received = start
    bar = _bar(total, name, progress, initial=start)
    try:
        while True:
            try:
                block = response.read(_CHUNK)
            except http.client.IncompleteRead as err:
                block = err.partial
                handle.write(block)
                digest.update(block)
                return received + len(block)
            if not block:
                break
            received += len(block)
            if max_bytes is not None and received > max_bytes:
                raise DownloadError(f"{url}: more than {max_bytes >> 20} MB; refused")
            handle.write(block)
            digest.update(block)
            bar.update(len(block))
    finally:
        bar.close()
    handle.flush()
    os.fsync(handle.fileno())
    return received


def _make_folder(folder: Path) -> None:
    """The download folder, made if missing; a file in the way or a read-only place is one line."""
    check_output_folder(folder, create=True, error=DownloadError)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"{folder}: cannot create the download folder ({one_line(err)})") from err


def _bar(total: int | None, name: str, enabled: bool, initial: int = 0):  # noqa: ANN202
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, desc=name, file=sys.stderr,
        disable=not enabled,
    )


def _extract_member(archive: Path, member: str, dest: Path) -> Path:
    """Copy one file out of a zip (matched by base name; nothing else is extracted, so no path in
    the archive can point outside the cache)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if Path(i.filename).name == member and not i.is_dir()]
            if not infos:
                raise DownloadError(f"{archive}: has no {member}; the archive changed upstream")
            info = infos[0]
            if info.file_size > MAX_DOWNLOAD_BYTES:
                raise DownloadError(f"{archive}: {member} claims {info.file_size} bytes; refused")
            with zf.open(info) as src, atomic_open(dest) as out:
                while block := src.read(_CHUNK):
                    out.write(block)
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

    models = MODELS if models is None else models
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

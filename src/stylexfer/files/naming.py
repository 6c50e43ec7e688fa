"""Output file names that are safe to create: `photo__starry-night.png`, as `stylexfer stylize`
writes them and the GUI's Save dialog suggests them. Names are built from sanitised stems only (no
path components, no "..", no control or bidi characters) and capped at the file systems' 255 bytes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MAX_NAME_BYTES = 100  # per name part
MAX_FILE_NAME_BYTES = 255  # the whole file name, suffix included (ext4, APFS, NTFS: 255)


def sanitize_component(text: str, fallback: str = "image", max_bytes: int = MAX_NAME_BYTES) -> str:
    """One safe file-name part: NFC, no control/format/surrogate characters (bidi overrides
    included), no separators or Windows-reserved characters, no leading/trailing dots or spaces."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] not in ("C",))
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    text = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore").strip(" .")  # whole characters only
    return text or fallback


def cap_file_name(base: str, ext: str, limit: int = MAX_FILE_NAME_BYTES) -> str:
    """base + ext within `limit` bytes (UTF-8): a longer base is cut on a character boundary and
    ends in "~" + 8 hex digits of its full text's hash, so distinct long names stay distinct."""
    name = base + ext
    if len(name.encode("utf-8")) <= limit:
        return name
    digest = hashlib.sha256(base.encode("utf-8")).hexdigest()[:8]
    room = limit - len(ext.encode("utf-8")) - len(digest) - 1
    cut = base.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(" .")
    return f"{cut}~{digest}{ext}"


def output_name(content_stem: str, tags: Sequence[str], ext: str) -> str:
    """CONTENT__TAG1+TAG2.ext (tags: the style stems, or the model's for a fixed-style model; none:
    CONTENT.ext), every part sanitised, the whole capped."""
    stem = sanitize_component(content_stem)
    tag = "+".join(sanitize_component(t, "style", 60) for t in tags)
    return cap_file_name(f"{stem}__{tag}" if tag else stem, ext)

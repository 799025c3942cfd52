"""Names of stored files: the one key layout, the extension allowlist, safe display names."""

from __future__ import annotations

import re
import unicodedata

# The only extensions a stored file can get: its name never comes from the remote side.
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/ogg": ".ogv",
    "video/quicktime": ".mov",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/flac": ".flac",
    "audio/webm": ".weba",
    "application/pdf": ".pdf",
}
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul"} | {
    f"{p}{i}" for p in ("com", "lpt") for i in range(10)
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_DOTS = re.compile(r"\.{2,}")
_KEY = re.compile(r"downloads/([0-9a-f]{2})/(\1[0-9a-f]{62})\.[a-z0-9]{1,5}")
MAX_NAME = 120
DOWNLOADS = "downloads"


def extension_for(content_type: str) -> str:
    return EXTENSIONS.get(content_type.split(";")[0].strip().lower(), ".bin")


def content_type_for(key: str) -> str:
    """The content type a stored key's extension stands for (the first one that maps to it)."""
    ext = "." + key.rsplit(".", 1)[-1] if "." in key else ""
    return next((ctype for ctype, known in EXTENSIONS.items() if known == ext), "")


def stored_key(sha256: str, content_type: str) -> str:
    """The content address of a file: `downloads/ab/<sha256>.<ext>`, in every backend."""
    return f"{DOWNLOADS}/{sha256[:2]}/{sha256}{extension_for(content_type)}"


def key_sha256(key: str) -> str | None:
    """The sha256 a well-formed key names, or None for anything else (a probe, a stray file)."""
    match = _KEY.fullmatch(key)
    return match.group(2) if match else None


def safe_filename(name: str | None, content_type: str, fallback: str = "file") -> str:
    """A display name that is safe on any filesystem: no separators, dots, devices or length."""
    raw = unicodedata.normalize("NFKC", name or "")
    raw = raw.replace("\\", "/").rsplit("/", 1)[-1]
    stem = raw.rsplit(".", 1)[0] if "." in raw else raw
    ext = extension_for(content_type)
    # Cut before stripping, so a cut never leaves a trailing dot or space ("x..png").
    stem = _DOTS.sub(".", _UNSAFE.sub("_", stem))[: MAX_NAME - len(ext)].strip(" ._-")
    # Windows reserves a device name before any extension too: "lpt1.tar.png".
    if not stem or stem.split(".", 1)[0].strip().lower() in _WINDOWS_DEVICES:
        stem = fallback
    return stem + ext

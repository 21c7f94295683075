"""Content hashes of files on this host, for call caching: each file is read once per (path, size, mtime)."""
import hashlib
import os

_HASHES: dict[tuple, str] = {}  # (path, size, mtime, inode) -> content hash: a file is read once


def content_hash(path: str) -> str | None:
    """Return the SHA-256 of a file's content (of a directory: of its files' names and hashes), or None."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if os.path.isdir(path):
        digest = hashlib.sha256()
        for folder, dirs, names in sorted(os.walk(path)):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(folder, name)
                digest.update(f"{os.path.relpath(full, path)}\0{content_hash(full)}\0".encode())
        return f"tree-sha256:{digest.hexdigest()}"
    key = (path, info.st_size, info.st_mtime_ns, info.st_ino)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if len(_HASHES) > 200_000:
            _HASHES.clear()
        _HASHES[key] = f"sha256:{digest.hexdigest()}:{info.st_size}"
    return _HASHES[key]

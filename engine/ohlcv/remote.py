"""A cache read at an fsspec URL (`http://host/data`, `s3://bucket/data`): the read side of the store on a
Dask worker that does not mount the client's disk.

`cache_root` turns what a user gives (a folder, a `file://` URL, any other fsspec URL) into the store's
root: a local `Path`, or a `RemotePath`, which offers the few pathlib calls the store's readers make
(`/`, `read_bytes`, `read_text`, `is_dir`, `iterdir`) over fsspec. Readers find partitions through the
manifest, so a server that lists no directories (a plain static HTTP server, a bucket without list rights)
serves a cache as well as one that does. Bytes come through fsspec and pyarrow decodes them, so the
fingerprint is still the sha256 of the bytes read (`store.fingerprint_of`): a series read at a URL has the
fingerprint of the same files read from disk.

Every failure other than a missing file is one line naming the URL (without the credentials a URL may
carry), never a stack of aiohttp or botocore errors. Nothing here writes: the store refuses a write to a
`RemotePath` (`ReadOnlyCacheError`).
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["ReadOnlyCacheError", "RemoteCacheError", "RemotePath", "cache_root", "public_url"]

CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 120


class RemoteCacheError(OSError):
    """A cache URL that cannot be read (unreachable, refused, not a filesystem fsspec knows)."""


class ReadOnlyCacheError(ValueError):
    """A write asked of a cache at a URL: gauntlet writes only to a local folder."""


def public_url(url: str) -> str:
    """The URL without what is secret in it (`user:password@`, a query)."""
    return re.sub(r"//[^/@]*@", "//", url).split("?", 1)[0]


def cache_root(root: Path | str) -> Path | RemotePath:
    """A local folder (a path, or a `file://` URL) as a `Path`; any other URL as a `RemotePath`."""
    if isinstance(root, (Path, RemotePath)):
        return root
    text = str(root)
    if "://" not in text:
        return Path(text)
    parts = urlsplit(text)
    if parts.scheme == "file" and "::" not in text:
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"cache URL {public_url(text)!r}: a file:// URL names a folder on this machine "
                             f"(file:///path/to/data)")
        return Path(unquote(parts.path))
    root = RemotePath(text.rstrip("/"))
    _ = root._fs  # a URL no filesystem here reads is refused now, naming it as given
    return root


class RemotePath:
    """A file or folder under a cache URL, read through fsspec (see the module's docstring). Pickles as its URL:
    a Dask task carries it and the worker opens its own connection."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __reduce__(self) -> tuple[Any, ...]:
        return RemotePath, (self.url,)

    def __truediv__(self, name: str) -> RemotePath:
        return RemotePath(f"{self.url}/{name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.url == self.url

    def __lt__(self, other: RemotePath) -> bool:
        return self.url < other.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __str__(self) -> str:
        return public_url(self.url)

    def __repr__(self) -> str:
        return f"RemotePath({public_url(self.url)!r})"

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @cached_property
    def _fs(self) -> tuple[Any, str]:
        return _filesystem(self.url)

    def read_bytes(self) -> bytes:
        """The file's bytes; FileNotFoundError when the server says it has no such file."""
        fs, path = self._fs
        try:
            return fs.cat_file(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self}: no such file") from None
        except Exception as exc:  # noqa: BLE001 - aiohttp, botocore ...: one line naming the URL
            raise RemoteCacheError(f"cannot read the cache at {self}: {_reason(exc)}") from None

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def is_dir(self) -> bool:
        """Whether the server lists this folder (a server without listings says no: readers need none)."""
        fs, path = self._fs
        try:
            return bool(fs.isdir(path))
        except Exception as exc:  # noqa: BLE001
            raise RemoteCacheError(f"cannot list the cache at {self}: {_reason(exc)}") from None

    def iterdir(self) -> list[RemotePath]:
        fs, path = self._fs
        try:
            entries = fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        except Exception as exc:  # noqa: BLE001
            raise RemoteCacheError(f"cannot list the cache at {self}: {_reason(exc)}") from None
        names = {str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries}
        return [self / name for name in sorted(names) if name]

    def is_file(self) -> bool:
        """Whether the server has this file (fsspec's answer: an unreachable server says no). The store's
        readers never ask before reading: they open what the manifest names and take FileNotFoundError."""
        fs, path = self._fs
        try:
            return bool(fs.isfile(path))
        except Exception:  # noqa: BLE001 - as fsspec's own `exists`: whatever cannot be seen is not there
            return False


def _filesystem(url: str) -> tuple[Any, str]:
    """fsspec's filesystem and path for `url`, or one line saying why there is none."""
    import fsspec.core

    options: dict[str, Any] = {}
    if urlsplit(url).scheme in ("http", "https"):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT_S,
                                                                      sock_read=READ_TIMEOUT_S)}
    try:
        return fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        raise ValueError(f"cache URL {public_url(url)!r}: its filesystem is not installed here ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"cache URL {public_url(url)!r}: {exc}; give a folder, or a URL fsspec reads "
                         f"(http://HOST/data, s3://BUCKET/data, file:///path/data)") from None


def _reason(exc: BaseException) -> str:
    """An error in a few words, without a URL's secrets: aiohttp's connection and status errors by their
    attributes (its own texts run long), anything else by its message."""
    os_error, status = getattr(exc, "os_error", None), getattr(exc, "status", None)
    if isinstance(os_error, OSError):
        code = os_error.errno  # asyncio's own text names the address again; a resolver's code is negative
        why = os.strerror(code) if isinstance(code, int) and code > 0 else (os_error.strerror or str(os_error))
        text = f"cannot connect to {getattr(exc, 'host', '?')}:{getattr(exc, 'port', '?')} ({why})"
    elif isinstance(status, int):
        text = f"HTTP {status} {getattr(exc, 'message', '')}".strip()
    else:
        text = " ".join(str(exc).split()) or type(exc).__name__
    return re.sub(r"//[^/@\s]*@", "//", text)

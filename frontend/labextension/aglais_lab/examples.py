"""The read-only examples and the user's notebooks, as the spawner laid them out
(aglais_common.layout, passed in $AGLAIS_EXAMPLES and $AGLAIS_NOTEBOOKS): the list of
examples, and the copy of one into the notebooks, for /aglais/examples.

Why not JupyterLab's own Copy and Paste: it takes three actions (copy, open the folder,
paste), its Duplicate writes next to the original, into the read-only folder, and it
follows links. Here one request copies one example: only a regular file under the
examples, reached without following a link (O_NOFOLLOW at every step below the examples
directory), never over an existing file (O_EXCL: a taken name gets JupyterLab's own
"-Copy1" style of new name).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

MAX_BYTES = 50 * 1024 * 1024  # an example is a notebook, not a data set
MAX_LISTED = 500
MAX_DEPTH = 4
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
OWN_VARIABLES = ("AGLAIS_NOTEBOOKS", "AGLAIS_SAVED", "AGLAIS_TEMP")  # aglais_common.layout's own areas


class Refused(Exception):
    """A request to refuse: (status, message)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def make_own_areas(environ=os.environ) -> list[str]:
    """~/notebooks, ~/saved and ~/tmp, made as the user where missing (on Kubernetes
    nothing else makes them; the local spawner already did). What failed, for the log."""
    problems = []
    for variable in OWN_VARIABLES:
        path = environ.get(variable)
        if path:
            try:
                os.makedirs(path, mode=0o700, exist_ok=True)
            except OSError as e:
                problems.append(f"{path}: {e.strerror}")
    return problems


def relative(path: str) -> list[str]:
    """The parts of a '/'-separated path under the examples; Refused (400) for anything
    that is not a plain relative path to a visible name."""
    if not isinstance(path, str) or not path or len(path) > 1024 or "\0" in path or "\\" in path:
        raise Refused(400, "'path' must be the path of an example, relative to the examples.")
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise Refused(400, "'path' must be a path under the examples, without '..', '.' or hidden names.")
    return parts


class Examples:
    def __init__(self, examples: str | None, notebooks: str | None, root: str):
        self.examples, self.notebooks, self.root = examples, notebooks, root

    @classmethod
    def from_environment(cls, root: str, environ=os.environ) -> "Examples":
        return cls(environ.get("AGLAIS_EXAMPLES") or None, environ.get("AGLAIS_NOTEBOOKS") or None, root)

    def contents_path(self, path: str | None) -> str | None:
        """`path` as the file browser names it (relative to the server's root), or None
        when it is outside the root."""
        if not path:
            return None
        rel = os.path.relpath(path, self.root)
        return None if rel == ".." or rel.startswith("../") else ("" if rel == "." else rel)

    def _open_root(self) -> int:
        if not self.examples:
            raise Refused(404, "This server has no examples.")
        try:
            return os.open(self.examples, os.O_RDONLY | os.O_DIRECTORY)  # the admin's: followed
        except OSError:
            raise Refused(404, "This server's examples are not there.") from None

    def listing(self) -> dict:
        """Every visible regular file under the examples (links and hidden names left out)."""
        found: list[dict] = []
        if self.examples:
            fd = self._open_root()
            try:
                self._walk(fd, "", 0, found)
            finally:
                os.close(fd)
        return {"examples": found, "examples_path": self.contents_path(self.examples),
                "notebooks_path": self.contents_path(self.notebooks)}

    def _walk(self, fd: int, prefix: str, depth: int, found: list) -> None:
        with os.scandir(fd) as listing:
            items = sorted(listing, key=lambda item: item.name)
        for item in items:
            if len(found) >= MAX_LISTED:
                break
            if item.name.startswith("."):
                continue
            st = item.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                found.append({"path": prefix + item.name, "size": st.st_size})
            elif stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
                try:
                    sub = os.open(item.name, _DIR, dir_fd=fd)
                except OSError:
                    continue
                try:
                    self._walk(sub, prefix + item.name + "/", depth + 1, found)
                finally:
                    os.close(sub)

    def read(self, path: str) -> tuple[str, bytes]:
        """(its name, its bytes) of the example at `path`, reached without following links."""
        parts = relative(path)
        fds = [self._open_root()]
        try:
            for part in parts[:-1]:
                fds.append(self._step(fds[-1], part, _DIR, path))
            fd = self._step(fds[-1], parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, path)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise Refused(400, f"{path} is not a file: copy one notebook at a time.")
                if st.st_size > MAX_BYTES:
                    raise Refused(413, f"{path} is larger than {MAX_BYTES // 2**20} MiB.")
                with os.fdopen(os.dup(fd), "rb") as f:
                    data = f.read(MAX_BYTES + 1)
                if len(data) > MAX_BYTES:
                    raise Refused(413, f"{path} is larger than {MAX_BYTES // 2**20} MiB.")
                return parts[-1], data
            finally:
                os.close(fd)
        finally:
            for fd in fds:
                os.close(fd)

    @staticmethod
    def _step(fd: int, name: str, flags: int, path: str) -> int:
        try:
            return os.open(name, flags, dir_fd=fd)
        except OSError as e:
            if e.errno == errno.ELOOP or _is_link(fd, name):  # O_DIRECTORY on a link says ENOTDIR
                raise Refused(400, f"{path} goes through a link: only the examples themselves can be copied.") from None
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                raise Refused(404, f"There is no example {path}.") from None
            raise Refused(403, f"{path} cannot be read: {e.strerror}.") from None

    def copy(self, path: str) -> dict:
        """Copy the example at `path` into the notebooks, under its own name or, if that is
        taken, the first free one of name-Copy1.ext, name-Copy2.ext, ... (never over a file)."""
        name, data = self.read(path)
        if not self.notebooks:
            raise Refused(409, "This server has no notebooks folder to copy into ($AGLAIS_NOTEBOOKS).")
        os.makedirs(self.notebooks, mode=0o700, exist_ok=True)
        try:
            fd = os.open(self.notebooks, _DIR)
        except OSError as e:
            raise Refused(409, f"Your notebooks folder cannot be written: {e.strerror}.") from None
        try:
            stem, ext = posixpath.splitext(name)
            for n in range(0, 1000):
                candidate = name if n == 0 else f"{stem}-Copy{n}{ext}"
                try:
                    out = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=fd)
                except FileExistsError:
                    continue
                except OSError as e:
                    raise Refused(409, f"Your notebooks folder cannot be written: {e.strerror}.") from None
                with os.fdopen(out, "wb") as f:
                    f.write(data)
                target = os.path.join(self.notebooks, candidate)
                return {"name": candidate, "path": self.contents_path(target), "from": path}
            raise Refused(409, f"{name} has been copied 999 times already: rename some copies.")
        finally:
            os.close(fd)


def _is_link(fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False

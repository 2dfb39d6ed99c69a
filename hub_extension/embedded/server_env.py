"""The Python environment single-user servers run from in the embedded default.

A hub running as root runs servers as accounts of their own, which cannot read the
checkout (CI clones into a folder of its own, perhaps under /root, mode 0700) nor the
hub's venv and its interpreter (pyenv's, under /root, say). So `make` builds a second venv
outside the checkout, under a world-readable prefix, from an interpreter every account can
run, with what a server needs: jupyterhub-singleuser, JupyterLab, ipykernel, the
aglais-hub-lab extension, jupyter-server-proxy and nbgitpuller (a user's own copy of a git
repository of notebooks: docs/layout.md), at the versions the hub's venv holds, and
pyspark (Spark itself: its jars and launch scripts; spawner/spark_local.py runs a cluster
from it). A hub that is not root runs servers as itself, from its own venv, into which this
adds pyspark only.

    python -m hub_extension.embedded.server_env          # build or refresh it; print its path
    python -m hub_extension.embedded.server_env --path   # only print its path
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LABEXTENSION = REPO / "frontend" / "labextension"
# Spark for the servers' kernels and the sessions' clusters (master, workers and executors
# run from its jars and bin/spark-class). Pinned here, as the hub does not import it; Spark
# 4.x runs on Java 17 (Debian's openjdk-17-jre-headless, `make java`).
PYSPARK = "pyspark==4.3.0"
REQUIREMENTS = ("jupyterhub", "jupyterlab", "ipykernel", "jupyter-server-proxy", "nbgitpuller", PYSPARK)
# Pinned to the hub's versions: the single-user protocol (jupyterhub), what the extension
# was built against (jupyterlab) and what its server part runs on (jupyter-server-proxy: the
# Spark UI's route, tested in the hub's venv; nbgitpuller, likewise). The rest resolves for the servers'
# interpreter, which may be an older patch release than the hub's.
PINNED = ("jupyterhub", "jupyterlab", "jupyter-server", "jupyterlab-server", "ipykernel", "tornado", "traitlets",
          "jupyter-server-proxy", "nbgitpuller")
# Where the servers' venvs live when the hub is root: one per checkout, so that several
# checkouts on one machine (worktrees, CI jobs) do not install into each other's.
ROOT = Path("/opt/aglais-hub")
# Interpreters to try, after the hub's own base: the system's are readable by everyone.
CANDIDATES = ("/usr/bin/python3.11", "/usr/bin/python3", "/usr/local/bin/python3.11", "/usr/local/bin/python3")
NOBODY = 65534
STAMP = ".aglais-server-env"


def path(repo: Path = REPO) -> Path:
    """$AGLAIS_SERVER_ENV; else, for a root hub, /opt/aglais-hub/<checkout>-<hash of its path>;
    else the hub's own venv."""
    if os.environ.get("AGLAIS_SERVER_ENV"):
        return Path(os.environ["AGLAIS_SERVER_ENV"])
    if os.geteuid() != 0:
        return Path(sys.prefix)
    key = hashlib.sha256(str(repo).encode()).hexdigest()[:8]
    return ROOT / f"{repo.name}-{key}"


def as_nobody(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run `cmd` as an account with no rights of its own, as a server's account is."""
    def drop():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    return subprocess.run(cmd, preexec_fn=drop, cwd="/", capture_output=True, text=True, env={
        "PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": os.environ.get("LANG", "C.UTF-8")}, **kwargs)


def base_interpreter() -> str:
    """The first interpreter (3.11 or newer) that an unprivileged account can run."""
    tried = []
    # sys._base_executable (private, CPython's venv support: the interpreter a venv was made
    # from, https://github.com/python/cpython/blob/v3.11.7/Lib/venv/__init__.py#L129) is
    # the only place asked; without it, the system's interpreters are tried alone
    for candidate in (getattr(sys, "_base_executable", sys.executable), *CANDIDATES):
        if candidate in tried or not os.path.exists(candidate):
            continue
        tried.append(candidate)
        try:
            check = as_nobody([candidate, "-c", "import sys, venv; sys.exit(sys.version_info < (3, 11))"])
        except PermissionError:  # under a directory others cannot enter
            continue
        if check.returncode == 0:
            return candidate
    raise SystemExit(f"No Python 3.11+ that other accounts can run (tried {', '.join(tried)}): "
                     "install the system's python3 and python3-venv")


def constraints() -> str:
    """The hub's venv's versions of PINNED."""
    from importlib.metadata import version

    return "".join(f"{name}=={version(name)}\n" for name in PINNED)


def fingerprint(pins: str) -> str:
    """What the environment is built from: the versions, the extension's build, its server
    side's sources (aglais_lab's Python and static files), this file."""
    built = LABEXTENSION / "aglais_lab" / "labextension" / "package.json"
    sources = sorted(p for p in (LABEXTENSION / "aglais_lab").rglob("*")
                     if p.is_file() and "labextension" not in p.relative_to(LABEXTENSION / "aglais_lab").parts
                     and "__pycache__" not in p.parts)
    parts = [pins, built.read_text() if built.exists() else "", Path(__file__).read_text(),
             *(f"{p.relative_to(LABEXTENSION)}\0{p.read_text(errors='replace')}" for p in sources)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def verify(target: Path) -> None:
    """The check that matters: an account with no rights starts what a server runs."""
    check = as_nobody([str(target / "bin" / "python"), "-c",
                       "import jupyterhub.singleuser, jupyterlab, ipykernel, aglais_lab, jupyter_server_proxy, pyspark"])
    if check.returncode != 0:
        raise SystemExit(f"{target} is not usable by other accounts:\n{check.stderr}")
    if not (target / "share" / "jupyter" / "labextensions" / "aglais-hub-lab").is_dir():
        raise SystemExit(f"{target} lacks the aglais-hub-lab extension: run `make labextension` first")


def build(target: Path) -> None:
    if target == Path(sys.prefix):
        # the hub's own venv, which `make venv` installs, all but Spark (which the hub does
        # not import): added here, for the servers that run from it
        try:
            from importlib.metadata import version

            if version("pyspark") == PYSPARK.split("==")[1]:
                return
        except ImportError:
            pass
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYSPARK],
                       check=True)
        return
    pins = constraints()
    stamp = target / STAMP
    wanted = fingerprint(pins)
    if stamp.exists() and stamp.read_text() == wanted:
        verify(target)
        return
    old = os.umask(0o022)  # readable by every account, whatever the caller's umask
    try:
        for parent in reversed(target.parents):
            if not parent.exists():
                parent.mkdir(mode=0o755)
        if not (target / "bin" / "python").exists():
            subprocess.run([base_interpreter(), "-m", "venv", "--without-pip", str(target)], check=True)
        constraint_file = target / "constraints.txt"
        constraint_file.write_text(pins)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(target / "bin" / "python"),
               "install", "--quiet"]
        subprocess.run(pip + ["-c", str(constraint_file), *REQUIREMENTS, str(LABEXTENSION)], check=True)
        # the same version number, rebuilt: pip keeps the old one unless told
        subprocess.run(pip + ["--no-deps", "--force-reinstall", str(LABEXTENSION)], check=True)
        subprocess.run(["chmod", "-R", "a+rX", str(target)], check=True)
    finally:
        os.umask(old)
    verify(target)
    stamp.write_text(wanted)


def main(argv: list[str]) -> None:
    target = path()
    if "--path" not in argv:
        build(target)
    print(target)


if __name__ == "__main__":
    main(sys.argv[1:])

"""BookingLocalProcessSpawner: the embedded default. Servers are local processes, pinned
to as many CPUs as the package has cores and capped by a data-size rlimit; that is
what an unprivileged process can enforce (see docs/spawner.md for what stays advisory)."""

from __future__ import annotations

import math
import os
import pwd
import resource
import shutil
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Bool, Unicode

from . import package
from .mixin import BookingSpawnerMixin


def confine(cores: float | None, memory_bytes: int | None) -> None:
    """In the child before exec: pin to ceil(cores) CPUs and cap the data segment.

    None is no limit (a spawner without a session); zero or less is an error, which
    fails the spawn rather than start a server with everything."""
    for name, limit in (("cpu_limit", cores), ("mem_limit", memory_bytes)):
        if limit is not None and not limit > 0:
            raise ValueError(f"{name} is {limit}: a server needs more than zero")
    if cores is not None:
        available = sorted(os.sched_getaffinity(0))
        count = max(1, min(len(available), math.ceil(cores)))
        os.sched_setaffinity(0, available[:count])
    if memory_bytes is not None:
        # RLIMIT_DATA covers the heap and private anonymous mappings (Linux >= 4.7):
        # what a notebook's allocations use. RLIMIT_AS would also count the address
        # space reserved by thread stacks and libraries, and refuse far too early.
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))


class BookingLocalProcessSpawner(BookingSpawnerMixin, LocalProcessSpawner):
    shared_os_user = Bool(
        False, config=True,
        help="""Run every server as the hub's own OS user, with a home per hub user under
        `home_dir_template`, instead of as an OS user of the same name. For the embedded
        default and tests, where hub users are not OS users: there is no isolation
        between users' files.
        """,
    )
    home_dir_template = Unicode(
        "/tmp/aglais-homes/{username}", config=True,
        help="Home directory of each user's server when `shared_os_user` is on.",
    )

    def delete_forever(self):
        """The user is deleted (a trial account's logout, the culler, an admin): with
        `shared_os_user` the home is ours, so it goes too. OS users' homes are the
        system's to manage and are left alone."""
        if not self.shared_os_user or self.name:  # a named server shares the user's home
            return
        home = Path(self.home_dir_template.format(username=self.user.name))
        if home.is_dir() and not home.is_symlink():
            shutil.rmtree(home)
            self.log.info("Deleted %s's home %s", self.user.name, home)

    def make_preexec_fn(self, name):
        become_user = (lambda: None) if self.shared_os_user else super().make_preexec_fn(name)
        cores, memory = self.cpu_limit, self.mem_limit

        def preexec():
            become_user()
            confine(cores, memory)

        return preexec

    def user_env(self, env):
        if not self.shared_os_user:
            return super().user_env(env)
        home = self.home_dir_template.format(username=self.user.name)
        env["USER"] = self.user.name
        env["HOME"] = home
        env["SHELL"] = "/bin/bash"
        return env

    def get_args(self):
        args = super().get_args()
        if self.shared_os_user and os.getuid() == 0:
            args.append("--allow-root")  # jupyter-server refuses root otherwise
        return args

    def apply_session(self, grant):
        super().apply_session(grant)
        home = Path(self.home_dir_template.format(username=self.user.name)) if self.shared_os_user \
            else Path(os.path.expanduser(f"~{self.user.name}"))
        conf = home / ".aglais" / "spark"
        if self.shared_os_user:
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.notebook_dir = str(home)
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "spark-defaults.conf").write_text(package.spark_defaults(grant))
        if not self.shared_os_user and os.getuid() == 0:
            account = pwd.getpwnam(self.user.name)
            for path in (conf.parent, conf, conf / "spark-defaults.conf"):
                os.chown(path, account.pw_uid, account.pw_gid)
        self.environment = {**self.environment, "SPARK_CONF_DIR": str(conf)}

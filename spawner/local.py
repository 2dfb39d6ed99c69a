"""BookingLocalProcessSpawner: the embedded default. Servers are local processes, pinned
to as many CPUs as the package has cores and capped by a data-size rlimit; that is
what an unprivileged process can enforce (see docs/spawner.md for what stays advisory).
A hub running as root runs each user's server as a system account of that user's own
(system_users.py); a hub that is not root can only run them as itself (`shared_os_user`).
A package with Spark workers gets a Spark cluster of its own (spark_local.py), started
before the server and stopped with it."""

from __future__ import annotations

import json
import math
import os
import pwd
import resource
import shutil
import stat
from html import escape
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, SpawnException
from traitlets import Bool, Dict, Unicode, default, validate

from aglais_common import layout

from . import homes, package, spark_local, system_users
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


def write_private(home: str, parts: tuple[str, ...], name: str, text: str, owner: pwd.struct_passwd | None) -> None:
    """Write <home>/<parts...>/<name>, mode 0600, owned by `owner` (directories 0700). The
    home is the user's, who may have put symlinks in it: every step is opened relative to
    the one before with O_NOFOLLOW, so root never writes or chowns through a link."""
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts:
            try:
                os.mkdir(part, 0o700, dir_fd=fd)
            except FileExistsError:
                pass
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
            if owner:
                os.fchown(fd, owner.pw_uid, owner.pw_gid)
        part = f".{name}.part"
        try:
            os.unlink(part, dir_fd=fd)
        except FileNotFoundError:
            pass
        out = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
        with os.fdopen(out, "w") as f:
            f.write(text)
            if owner:
                os.fchown(f.fileno(), owner.pw_uid, owner.pw_gid)
        os.replace(part, name, src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


class BookingLocalProcessSpawner(BookingSpawnerMixin, LocalProcessSpawner):
    """Three ways to map hub users to OS users: an account of their own made by the hub
    (`create_system_users`, needs root), an existing OS user of the same name
    (LocalProcessSpawner's own way, needs root), or the hub's own user for everyone
    (`shared_os_user`, a hub that is not root)."""

    create_system_users = Bool(
        False, config=True,
        help="""Run each hub user's server as a system account of that user's own, made with
        useradd on the first spawn (home `system_homes`/<account>, mode 0700, a group of its
        own, no password) and removed with userdel, home included, when the hub user is
        deleted. Needs a hub running as root. The account's name is `system_user_prefix`
        and the hub name, or, for a name that is not only a-z, 0-9 and '-' or does not fit
        in 32 characters, the prefix, what fits of those characters, '_' and ten hex digits
        of the name's SHA-256 (docs/spawner.md). An existing account of that name that the
        hub did not make (no marker in its comment field) is never used nor removed.
        """,
    )
    system_user_prefix = Unicode(
        "jupyter-", config=True,
        help="""The start of every system account's name with `create_system_users` (1 to 20
        of a-z, 0-9, '_', '-', starting with a letter), as The Littlest JupyterHub names
        them. Changing it orphans the accounts made with the old prefix.""",
    )
    system_homes = Unicode(
        "/home", config=True,
        help="""The directory the system accounts' homes are made in (useradd --base-dir),
        with `create_system_users`. Every directory above it must be searchable by others.""",
    )
    shared_os_user = Bool(
        False, config=True,
        help="""Run every server as the hub's own OS user, with a home per hub user under
        `home_dir_template`. Only for a hub that is not root (someone's laptop): servers
        are not isolated from each other or from the hub (they can read each other's files,
        the hub's data directory and its environment), so "Give it a try" is off unless
        `AglaisAuthenticator.allow_try` is set. Refused when the hub runs as root: use
        `create_system_users` there.
        """,
    )
    home_dir_template = Unicode(
        "/tmp/aglais-homes/{username}", config=True,
        help="Home directory of each user's server when `shared_os_user` is on.",
    )
    spark_cluster = Bool(
        True, config=True,
        help="""Give a session whose package has Spark workers a Spark standalone cluster of its
        own: a master and one worker per package worker, as local processes of the server's
        account on 127.0.0.1, with a secret of their own, started before the server and
        stopped with it (docs/spawner.md). Off: the server only gets the Spark settings.""",
    )
    spark_home = Unicode(
        "", config=True,
        help="""Spark's home for the sessions' clusters: a directory with bin/spark-class and
        jars/, readable by every server's account. Default: the pyspark package of the
        environment `Spawner.cmd` runs from (the servers' Python).""",
    )
    examples_dir = Unicode(
        "", config=True,
        help="""A directory of example notebooks that every server sees, read-only, as
        ~/examples (a link to it; $AGLAIS_EXAMPLES): readable by every server's account and
        writable by none (the embedded default publishes the repository's examples/, or a
        git repository, there: docs/layout.md). Empty: no examples.""",
    )
    shared_data_dir = Unicode(
        "", config=True,
        help="""A directory of shared data that every server sees, read-only, as ~/data (a
        link to it; $AGLAIS_DATA): readable by every server's account and writable by none.
        Empty: no shared data.""",
    )
    spark_state = Dict(help="The running Spark cluster's master, UI port, processes and cgroups (kept in the spawner's state).")

    zeppelin_sh = Unicode(
        config=True,
        help="""The zeppelin.sh of an Apache Zeppelin installation, for the Zeppelin flavour
        (Zeppelin behind the user's jupyterhub-singleuser, through jupyter-server-proxy; its
        ZEPPELIN_HOME is the directory above the script's). Default:
        $ZEPPELIN_HOME/bin/zeppelin.sh of the hub's environment, if $ZEPPELIN_HOME is set.
        Zeppelin is offered only where this script is there and every account may run it.
        """,
    )

    @default("zeppelin_sh")
    def _default_zeppelin_sh(self):
        home = os.environ.get("ZEPPELIN_HOME", "")
        return os.path.join(home, "bin", "zeppelin.sh") if home else ""

    @validate("system_user_prefix")
    def _valid_prefix(self, proposal):
        return system_users.check_prefix(proposal["value"], "BookingLocalProcessSpawner")

    @validate("shared_os_user", "create_system_users")
    def _one_mode(self, proposal):
        if proposal["value"]:
            self._check_mode(**{proposal["trait"].name: True})
        return proposal["value"]

    def _check_mode(self, shared_os_user=None, create_system_users=None):
        shared = self.shared_os_user if shared_os_user is None else shared_os_user
        create = self.create_system_users if create_system_users is None else create_system_users
        if shared and create:
            raise ValueError("BookingLocalProcessSpawner.shared_os_user and create_system_users exclude each other")
        if shared and os.geteuid() == 0:
            raise ValueError("BookingLocalProcessSpawner.shared_os_user would run every server as root: "
                             "set create_system_users instead (docs/spawner.md)")
        if create and os.geteuid() != 0:
            raise ValueError("BookingLocalProcessSpawner.create_system_users needs a hub running as root; "
                             "without root use shared_os_user (docs/spawner.md)")

    @property
    def system_user(self) -> str:
        """The OS account this user's servers run as (the hub's own with `shared_os_user`)."""
        if self.shared_os_user:
            return pwd.getpwuid(os.getuid()).pw_name
        if self.create_system_users:
            return system_users.system_name(self.system_user_prefix, self.user.name)
        return self.user.name

    def user_home(self) -> str | None:
        """Where the user's files are, whether or not a server made them yet; None if the
        account is not there, or is a system account the hub did not make for this user."""
        if self.shared_os_user:
            return self.home_dir_template.format(username=self.user.name)
        entry = system_users.lookup(self.system_user)
        if not self.create_system_users:
            return entry.pw_dir if entry else None
        if entry is None:
            return os.path.join(self.system_homes, self.system_user)
        return entry.pw_dir if system_users.is_ours(entry, self.system_user_prefix, self.user.name) else None

    # -- the Zeppelin flavour ------------------------------------------------------------

    def zeppelin_unavailable(self) -> str | None:
        """Why this hub cannot start Zeppelin servers; None when it can."""
        script = self.zeppelin_sh
        if not script:
            return ("Apache Zeppelin is not installed on this hub (BookingLocalProcessSpawner.zeppelin_sh "
                    "and $ZEPPELIN_HOME are not set).")
        try:
            mode = os.stat(script).st_mode
        except OSError:
            return f"Apache Zeppelin is not installed on this hub: there is no {script}."
        # the server runs as the user's account: the script must be executable by others
        # unless every server runs as the hub's own user
        runnable = os.access(script, os.X_OK) and (self.shared_os_user or mode & stat.S_IXOTH)
        if not stat.S_ISREG(mode) or not runnable:
            return f"Apache Zeppelin cannot start on this hub: {script} is not a script the users' accounts may run."
        return None

    def supported_flavours(self):
        return ("jupyter",) if self.zeppelin_unavailable() else ("jupyter", "zeppelin")

    async def _flavour_form(self, spawner=None) -> str:
        form = await super()._flavour_form(spawner)
        why = self.zeppelin_unavailable()
        # an admin who set Zeppelin up (the trait or $ZEPPELIN_HOME) and got it wrong is
        # told on the form; where nobody installed it, no form is added only to say so
        if why and self.zeppelin_sh:
            form += f'<p class="aglais-flavour-unavailable">{escape(why)} JupyterLab starts instead.</p>'
        return form

    async def claim_session(self):
        if self.requested_flavour() == "zeppelin":
            why = self.zeppelin_unavailable()
            if why:
                raise SpawnException(why, reason="flavour", status_code=400)
        return await super().claim_session()

    def zeppelin_env(self, env: dict) -> dict:
        """A Zeppelin session's server opens at Zeppelin, which aglais_lab runs behind it
        ($AGLAIS_FLAVOUR, from the grant, turns it on) from ZEPPELIN_HOME, the directory
        above `zeppelin_sh`'s."""
        if (self.booking_session or {}).get("flavour") == "zeppelin":
            env["JUPYTERHUB_DEFAULT_URL"] = "/zeppelin/"
            env["ZEPPELIN_HOME"] = os.path.dirname(os.path.dirname(os.path.abspath(self.zeppelin_sh)))
        return env

    async def start(self):
        self._check_mode()
        if self.create_system_users:
            try:
                entry = await system_users.ensure(self.system_user_prefix, self.user.name, self.system_homes)
            except system_users.AccountError as e:
                raise SpawnException(str(e), reason="system-user", status_code=500) from None
            self.log.info("%s's server runs as the system account %s (uid %d)", self.user.name, entry.pw_name,
                          entry.pw_uid)
        try:
            return await super().start()
        except BaseException:
            await self._stop_spark(self.spark_state)  # started by provision(), for a server that did not
            raise

    async def delete_forever(self):
        """The user is deleted (a trial account's logout, the culler, an admin): their home
        goes too when it is ours (a shared-user home, or a system account we made, which
        goes with it). Other OS users' homes are the system's to manage and are left alone."""
        if self.name:  # a named server shares the user's home
            return
        if self.create_system_users:
            removed = await system_users.remove(self.system_user_prefix, self.user.name)
            if removed:
                self.log.info("Deleted %s's system account %s and its home", self.user.name, removed)
            return
        if not self.shared_os_user:
            return
        home = Path(self.home_dir_template.format(username=self.user.name))
        if home.is_dir() and not home.is_symlink():
            shutil.rmtree(home)
            self.log.info("Deleted %s's home %s", self.user.name, home)

    def _become_user(self):
        """A preexec that makes the child the server's account (nothing with `shared_os_user`)."""
        return (lambda: None) if self.shared_os_user else super().make_preexec_fn(self.system_user)

    def make_preexec_fn(self, name):
        # LocalProcessSpawner.start passes the hub name; the server runs as the account
        become_user = self._become_user()
        cores, memory = self.cpu_limit, self.mem_limit

        def preexec():
            become_user()
            confine(cores, memory)

        return preexec

    def user_env(self, env):
        if self.shared_os_user:
            home, shell = self.user_home(), "/bin/bash"
        else:
            entry = pwd.getpwnam(self.system_user)
            home, shell = entry.pw_dir, entry.pw_shell or "/bin/bash"
        env["USER"] = env["LOGNAME"] = self.system_user
        env["HOME"] = home
        env["SHELL"] = shell
        return self.zeppelin_env(env)

    def servers_python(self) -> str:
        """The interpreter of the environment the server's command is in."""
        command = (shutil.which(self.cmd[0]) or self.cmd[0]) if self.cmd else "python3"
        return str(Path(command).parent / "python")

    def spark_plan(self, grant: dict, home: str) -> spark_local.Plan | None:
        """The session's cluster, or None (no workers, or `spark_cluster` off); a clear
        refusal when the package has workers and this hub cannot run them."""
        workers, cores, memory_mib = package.spark_workers(grant)
        if not (self.spark_cluster and workers):
            return None
        python = self.servers_python()
        spark_home = self.spark_home or spark_local.find_spark_home(python)
        java_home = spark_local.find_java_home()
        missing = ("Spark (pyspark in the servers' Python, `make server-env`)" if not spark_home else
                   "a Java runtime (Debian's openjdk-17-jre-headless, `make java`)" if not java_home else None)
        if missing:
            raise SpawnException(f"This package has Spark workers, but this hub has no {missing}; ask an admin.",
                                 reason="spark", status_code=503)
        return spark_local.Plan(spark_home, java_home, python, home, workers, cores, memory_mib)

    def apply_session(self, grant):
        super().apply_session(grant)
        home = Path(self.user_home() or pwd.getpwnam(self.system_user).pw_dir)
        if self.shared_os_user:
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.notebook_dir = str(home)
        owner = None if self.shared_os_user or os.getuid() != 0 else pwd.getpwnam(self.system_user)
        files = self.file_layout(str(home))
        links = {layout.DATA: self.shared_data_dir or None, layout.EXAMPLES: self.examples_dir or None}
        for problem in homes.make(str(home), owner, links):
            self.log.warning("%s's home: %s", self.user.name, problem)
        self._spark_plan = plan = self.spark_plan(grant, str(home))
        write_private(str(home), spark_local.CONF_PARTS, "spark-defaults.conf",
                      package.spark_defaults(grant, plan.settings() if plan else None), owner)
        environment = {k: v for k, v in self.environment.items()
                       if k not in spark_local.SERVER_VARIABLES and k not in layout.VARIABLES}
        environment.update(files.environment())
        environment["SPARK_CONF_DIR"] = str(home.joinpath(*spark_local.CONF_PARTS))
        if plan:
            write_private(str(home), spark_local.JUPYTER_PARTS, "jupyter_server_config.json",
                          json.dumps(plan.proxy_config(), indent=1), owner)
            environment.update(plan.server_environment())
        self.environment = environment

    def file_layout(self, home: str | None = None) -> layout.Layout | None:
        """Where this user's notebooks, saved data, temp data, shared data and examples
        are (aglais_common.layout); None when the home is not known."""
        home = home or self.user_home()
        if not home:
            return None
        view = {key: os.path.join(home, key) for key, where in ((layout.DATA, self.shared_data_dir),
                                                                (layout.EXAMPLES, self.examples_dir)) if where}
        return layout.Layout(home, **view)

    # -- the session's Spark cluster: up before the server, down whenever it ends ----------

    def _daemon_preexec(self, cores: float | None):
        """The preexec of a Spark daemon: the server's account, and `cores` pinned CPUs."""
        become_user = self._become_user()

        def preexec():
            become_user()
            if cores:
                confine(cores, None)

        return preexec

    async def provision(self, grant):
        await super().provision(grant)
        plan, self._spark_plan = getattr(self, "_spark_plan", None), None
        if plan is None:
            return
        try:
            self.spark_state = await spark_local.start(plan, self.system_user, self._daemon_preexec, self.log)
        except spark_local.SparkError as e:
            raise SpawnException(str(e), reason="spark", status_code=503) from None
        self.log.info("%s's Spark cluster: %s with %d worker(s)", self.user.name, plan.master_url, plan.workers)

    async def _stop_spark(self, cluster: dict) -> None:
        await spark_local.stop(cluster, self.log)
        if self.spark_state == cluster:
            self.spark_state = {}

    async def stop(self, now=False):
        cluster = self.spark_state  # the base class clears the state
        try:
            await super().stop(now=now)
        finally:
            await self._stop_spark(cluster)

    async def poll(self):
        cluster, running = self.spark_state, self.pid  # between provision and the process there is no pid yet
        status = await super().poll()
        if status is not None and running and cluster:
            await self._stop_spark(cluster)
        return status

    def get_state(self):
        state = super().get_state()
        if self.spark_state:
            state["spark"] = self.spark_state
        return state

    def load_state(self, state):
        super().load_state(state)
        self.spark_state = state.get("spark", {})

    def clear_state(self):
        super().clear_state()
        self.spark_state = {}

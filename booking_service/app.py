"""The booking service application: a traitlets Application that runs the tornado app
as a JupyterHub service (hub-managed or external), migrates its database, and seeds it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import secrets
import signal
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Bool, Dict, Float, Int, List, Union, Unicode, default, validate
from traitlets.config import Application

from aglais_common.limits import Limit, WindowCounter

from . import orm, secret_file, store
from .domain import MIB_PER_GIB, MILLICORES_PER_CORE, BookingError, format_time, parse_name
from .engine import Resources
from .handlers import routes
from .handlers.base import MAX_BODY, NotFoundHandler
from .handlers.ical import FeedLimits
from .handlers.pages import static_settings
from .hub_client import HubClient
from .lifecycle import Lifecycle
from .operations import Context
from .operations.ical import MIN_SECRET_BYTES, FeedSettings
from .operations.packages import parse_package
from .platforms import build_platforms
from .policy import LevelPolicy
from .steps import parse_workers
from .workers import WorkerClient


def utcnow() -> datetime:
    """The service's clock; tests that move time patch this one function."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def machine_memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


DEFAULT_PACKAGES = [
    {"name": "tiny", "description": "A notebook to try things: a quarter core, no Spark workers.",
     "notebook_cores": 0.25, "notebook_memory_gib": 1, "spark_workers": 0},
    {"name": "small", "description": "A notebook with one small Spark worker.",
     "notebook_cores": 0.5, "notebook_memory_gib": 2, "spark_workers": 1, "worker_cores": 0.5,
     "worker_memory_gib": 2},
    {"name": "medium", "description": "A notebook with two Spark workers.",
     "notebook_cores": 1, "notebook_memory_gib": 4, "spark_workers": 2, "worker_cores": 1,
     "worker_memory_gib": 4},
    {"name": "large", "description": "A notebook with four large Spark workers.",
     "notebook_cores": 2, "notebook_memory_gib": 8, "spark_workers": 4, "worker_cores": 2,
     "worker_memory_gib": 8},
]


class BookingService(Application):
    name = "booking-service"
    description = "The aglais-hub booking service: pools, capacity, packages and bookings over REST."

    classes = [LevelPolicy]
    feed_key = b""  # the calendar feeds' key, loaded at start (load_feed_secret)
    aliases = {
        "db-url": "BookingService.db_url",
        "config": "BookingService.config_file",
        "seed-pool": "BookingService.seed_pool",
        "log-level": "Application.log_level",
    }
    flags = {
        "seed-local-pool": ({"BookingService": {"seed_pool": "local", "walk_in_pool": "shared"}},
                            "Create the reserved pool 'local' and the shared pool 'shared' with this machine's "
                            "cores and memory if missing, and use 'shared' for walk-in servers."),
        "no-upgrade-db": ({"BookingService": {"upgrade_db": False}},
                          "Do not migrate the database schema at start-up."),
    }

    config_file = Unicode(
        "booking_service_config.py", config=True,
        help="A Python config file for the service (the same format as jupyterhub_config.py); loaded if it exists.",
    )
    db_url = Unicode(
        config=True,
        help="""SQLAlchemy URL of the booking database.

        SQLite (``sqlite+aiosqlite:///path``) for the embedded default, PostgreSQL
        (``postgresql+psycopg://user:password@host/db``) in production, where several
        service processes may share one database. Default: $AGLAIS_BOOKING_DB_URL, else
        ``sqlite+aiosqlite:///booking.sqlite``; the environment keeps a password off the
        command line, where any local user could read it.
        """,
    )
    db_pool_size = Int(10, config=True, help="Connections each process keeps open to PostgreSQL.")
    upgrade_db = Bool(
        True, config=True,
        help="""Run the schema migrations (alembic) at start-up.

        Safe with several processes on PostgreSQL: they take turns under an advisory lock.
        """,
    )
    readiness_timeout = Float(
        2, config=True,
        help="""Seconds the readiness endpoint (``readyz``) waits for the database to answer
        before it answers 503; keep it below the probe's own timeout.""",
    )
    ip = Unicode(config=True, help="Address to listen on. Default: the host of $JUPYTERHUB_SERVICE_URL, else 127.0.0.1.")
    port = Int(config=True, help="Port to listen on. Default: the port of $JUPYTERHUB_SERVICE_URL, else 10101.")
    base_url = Unicode(config=True, help="URL prefix of the service. Default: $JUPYTERHUB_SERVICE_PREFIX, else /services/booking/.")
    cookie_secret = Unicode(
        config=True,
        help="""Secret (hex) signing the service's cookies: the browser's login to the service and
        the OAuth state. Default: $AGLAIS_BOOKING_COOKIE_SECRET, else random per start, which
        means a restart sends browsers through the hub's (silent) OAuth once more. Several
        processes behind one address must share one secret.
        """,
    )

    seed_pool = Unicode(
        "", config=True,
        help="""If set, create a `reserved` pool of this name at start-up when it does not exist,
        with this machine's cores and memory for the next `seed_pool_days` days; and, if
        `walk_in_pool` is set, a `shared` pool of that name likewise. The embedded default
        seeds ``local`` and ``shared``.
        """,
    )
    seed_pool_days = Int(365, config=True, help="How many days of capacity the seeded pool gets.")
    seed_packages = List(
        Dict(), config=True,
        help="""Packages created at start-up when the database has no packages at all.

        Each item takes the fields of ``POST /packages``: name, description, notebook_cores,
        notebook_memory_gib, spark_workers, worker_cores, worker_memory_gib.
        """,
    )

    @default("seed_packages")
    def _default_seed_packages(self):
        return DEFAULT_PACKAGES

    walk_in_pool = Unicode(
        "", config=True,
        help="""Name of the `shared` pool where users without a booking start their level's walk-in
        package (if it has room, first come first served). Empty: no walk-in servers.
        """,
    )
    hold_minutes = Float(5, config=True, help="How long a freed walk-in place is kept for the head of the queue.")
    offers = Int(4, config=True, help="How many offers an offer set (POST /offersets) makes at most, unless the "
                                      "request asks for another `count`.")
    offer_hold_minutes = Float(
        5, config=True,
        help="""How long the offers of an offer set are held for their user: until then they count
        against the pool's capacity like bookings, and one of them can be accepted; then they expire.""",
    )
    max_offer_windows = Int(16, config=True, help="Most start windows one offer request may give.")
    max_held_offer_sets = Int(
        3, config=True,
        help="""Most offer sets a user (not a hub admin) may hold unexpired offers of at once; one
        more is refused (409) until they accept, reject or let one expire. Without a limit one
        token could keep a pool's capacity held by offers nobody takes.""",
    )
    platforms = List(
        Dict(), config=True,
        help="""Where offers (POST /offersets) come from: platform plugins, asked in turn.

        Each item is a dict with a `name` and a `kind`: ``local`` (this service's reserved
        pools; `pools` lists them, default every pool no other local platform names),
        ``remote`` (another aglais booking service: `url` of its API, ending ``/api/v1/``,
        and its token there in `token`, `token_env` or `token_file`; optional `pools`
        there and `timeout` seconds, 10) or ``blazar`` (OpenStack Blazar: `url` of its
        endpoint, a Keystone token as above, `resource_type` ``physical:host`` or
        ``flavor:instance`` with `flavor_id`, `flavor_cores` and `flavor_memory_gib`;
        optional `pool`, `max_probes` 8, `max_amount` 16, `hypervisor_properties`,
        `resource_properties`, `timeout`). Empty: the one local platform ``local``.
        docs/platforms.md says more; a wrong entry stops the start naming it.
        """,
    )
    warn_before_minutes = List(
        Int(), [15, 5], config=True,
        help="Minutes before a booking's end at which the entitlement carries a warning (for the frontend).",
    )
    lifecycle_interval = Float(
        30, config=True,
        help="""Seconds between rounds of the lifecycle loop, which stops servers whose booking
        ended and offers freed walk-in places. A server outlives its booking by at most this.
        """,
    )

    orphan_grace_seconds = Float(
        120, config=True,
        help="""A running session whose server the hub does not run (its release was lost, e.g.
        while this service was down) is ended once it is older than this many seconds.
        """,
    )

    notify_before_start = Float(
        60, config=True,
        help="""Minutes before a booking's start at which its user gets a notice (in the notebook,
        on the calendar, and by mail where the hub knows their address); 0: none.""",
    )
    notify_before_end = Float(
        30, config=True,
        help="""Minutes before the end of a booking under way at which its user gets a notice, as
        OpenStack Blazar's ``before_end_lease``; 0: none.""",
    )
    notify_before_offer_expiry = Float(
        2, config=True,
        help="""Minutes before the held offers of an offer set expire at which their user gets a
        notice; 0: none. Keep it below `offer_hold_minutes`.""",
    )
    mail_notices = Bool(
        True, config=True,
        help="""Mail each notice to its user through the hub (``POST <hub API>/accounts/<name>/notices``,
        which needs the scope ``custom:accounts:notify``; the hub mails the user's confirmed
        address with its own mail settings, so this service never sees addresses). Off, or
        without a hub API token, notices are only shown.""",
    )

    @validate("notify_before_start", "notify_before_end", "notify_before_offer_expiry")
    def _check_notify_minutes(self, proposal):
        value = proposal["value"]
        if not math.isfinite(value) or not 0 <= value <= 7 * 24 * 60:
            raise ValueError(f"BookingService.{proposal['trait'].name} must be minutes from 0 to a week "
                             f"(10080), not {value}")
        return value

    preparation_workers = Dict(
        config=True,
        help="""Preparation step kind -> its worker: a dict with ``url`` (the worker's one
        endpoint, which the service POSTs each step to), ``quote_seconds`` (how long a step
        of the kind is quoted to take; at least 60 s are counted) and optionally
        ``bytes_per_second`` (a step's ``size`` adds size / this to its quote).

        A booking or an offer request may carry ``steps`` of these kinds only; steps run one
        after another, and the booking enters PREPARING at its start minus the sum of their
        quotes. Empty (the default): bookings have no steps. The embedded default runs the
        ``stage_file`` worker (docs/preparation.md). A ``token``, if given, is sent to the
        worker as ``Authorization: Bearer <token>``.
        """,
    )
    callback_url = Unicode(
        config=True,
        help="""Where workers report on their steps: the URL of this service's
        ``api/v1/callbacks/`` as the workers reach it (the step's id is appended). Default:
        $JUPYTERHUB_SERVICE_URL (how the hub reaches the service) with `base_url` and
        ``api/v1/callbacks/``.""",
    )
    reclaim_unstarted_minutes = Dict(
        # keys may be digit strings too: a JSON config file (the Helm chart's) has no others
        key_trait=Union([Int(), Unicode()]), value_trait=Float(), config=True,
        help="""Level number -> minutes: a booking of a user at that level under which no
        server was started this long after its start is cancelled, its capacity released
        for others, with the cause in its transitions (as Slurm and Chameleon reclaim unused
        reservations). Levels not listed, and hub admins, are never reclaimed. Needs the hub
        (levels come from its groups). Empty by default. A level may be given as a string of
        digits too, as a JSON config file (the Helm chart's) has only string keys.""",
    )

    @validate("reclaim_unstarted_minutes")
    def _check_reclaim(self, proposal):
        levels = {}
        for level, minutes in proposal["value"].items():
            if isinstance(level, str):
                if not level.strip().isdigit():
                    raise ValueError(f"BookingService.reclaim_unstarted_minutes: {level!r} is not a level number")
                level = int(level)
            if not math.isfinite(minutes) or minutes < 0:
                raise ValueError(f"BookingService.reclaim_unstarted_minutes[{level}] must be minutes >= 0, "
                                 f"not {minutes}")
            levels[level] = minutes
        return levels

    @validate("preparation_workers")
    def _check_workers(self, proposal):
        parse_workers(proposal["value"])  # a ValueError names the kind and what is wrong
        return proposal["value"]

    @default("preparation_workers")
    def _default_preparation_workers(self):
        """From $AGLAIS_PREPARATION_WORKERS (JSON), where the hub's config puts it: the
        workers' tokens stay off the command line."""
        text = os.environ.get("AGLAIS_PREPARATION_WORKERS")
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as e:
            raise ValueError(f"$AGLAIS_PREPARATION_WORKERS is not JSON: {e}") from None
        parse_workers(value if isinstance(value, dict) else {"?": value})
        return value

    @default("callback_url")
    def _default_callback_url(self):
        service = os.environ.get("JUPYTERHUB_SERVICE_URL") or f"http://{self.ip}:{self.port}"
        return service.rstrip("/") + self.base_url + "api/v1/callbacks/"

    max_blocks = Int(10_000, config=True, help="Most blocks one availability query answers (a year in hours is 8,784).")
    max_query_days = Int(3 * 366, config=True, help="Longest range, in days, that a query (availability, capacity, bookings) answers.")
    alternatives = Int(3, config=True, help="How many alternative times a refused booking (409) suggests.")
    alternatives_horizon_days = Int(90, config=True, help="How far ahead, in days, alternatives for a refused booking are searched.")

    max_booking_cores = Float(
        10_000, config=True,
        help="""Most cores one booking by resources (``"resources": {"cores", ...}``) may hold;
        more is refused (400). A booking of a package holds the package's footprint,
        which `max_package_cores` bounds.""",
    )
    max_booking_memory_gib = Float(100_000, config=True, help="Most memory, in GiB, one booking by resources may hold.")
    max_package_cores = Float(
        10_000, config=True,
        help="""Most cores a package's footprint (its notebook and all its Spark workers
        together) may have; a larger package is refused (400).""",
    )
    max_package_memory_gib = Float(100_000, config=True, help="Most memory, in GiB, a package's footprint may have.")
    max_series_occurrences = Int(
        100, config=True,
        help="""Most occurrences one recurring booking (POST /series) may have; a rule that gives
        more is refused (400).""",
    )
    max_series_days = Int(
        180, config=True,
        help="""How many days after its first start a recurring booking may reach: its rule is
        expanded no further, so no rule, however written (one no day matches, like 30 February),
        costs more than this; a rule that runs on is refused (400).""",
    )

    # The private calendar feed (handlers/ical.py, docs/calendar.md).
    public_url = Unicode(
        config=True,
        help="""The booking service's public address with its prefix, e.g.
        ``https://hub.example.org/services/booking/``: where calendar applications fetch the
        private calendar feeds from, and the domain of the feed's event UIDs. Default:
        $AGLAIS_BOOKING_PUBLIC_URL, else the address the request that makes a feed came
        to (its Host header, chosen by the user making their own feed). Set it where the
        hub is reached under several names, so every feed has the one that works outside.""",
    )
    ical_past_days = Int(
        60, config=True,
        help="How many days a booking stays in its user's calendar feed after it ended.",
    )
    ical_cancelled_days = Int(
        14, config=True,
        help="""How many days a cancelled or failed booking stays in its user's calendar feed
        (with STATUS:CANCELLED, so calendar applications that had it drop or strike it out).""",
    )
    ical_max_events = Int(
        500, config=True,
        help="""Most bookings one calendar feed lists (the latest starts). Each costs about 0.3 ms
        of the service's CPU per fetch.""",
    )
    ical_refresh_minutes = Int(
        15, config=True,
        help="How often, in minutes, a calendar feed asks calendar applications to fetch it again.",
    )
    ical_limit = Unicode(
        "60/h", config=True,
        help="""How often one calendar feed may be fetched, as N per window (``60/h``, ``10/m``),
        counted per service process; more gets 429 with Retry-After. Calendar applications
        poll every few minutes at most.""",
    )
    ical_limit_address = Unicode(
        "3600/h", config=True,
        help="""How many calendar feed requests one client address may make, as N per window,
        per service process; more gets 429. Generous, as a calendar provider's servers
        (Google's, Microsoft's) fetch all their users' feeds from a few addresses. The address
        is the one `trusted_proxy_hops` says, never one a client wrote.""",
    )
    trusted_proxy_hops = Int(
        1, config=True,
        help="""How many proxies in front of the service append the client's address to
        X-Forwarded-For, and are trusted to: the per-address limit keys on the
        `trusted_proxy_hops`-th entry from the right. 1 is configurable-http-proxy alone; 2 with
        an ingress in front of it; the same as AglaisAuthenticator.trusted_proxy_hops.""",
    )

    @default("public_url")
    def _default_public_url(self):
        return os.environ.get("AGLAIS_BOOKING_PUBLIC_URL", "")

    @validate("public_url")
    def _check_public_url(self, proposal):
        url = proposal["value"]
        if not url:
            return url
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"BookingService.public_url must be an http(s) address such as "
                             f"https://hub.example.org/services/booking/, not {url!r}")
        return url if url.endswith("/") else url + "/"

    @validate("ical_past_days", "ical_cancelled_days", "ical_max_events", "ical_refresh_minutes",
              "trusted_proxy_hops")
    def _check_feed_numbers(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        least = 0 if name == "trusted_proxy_hops" else 1
        if value < least or value > 100_000:
            raise ValueError(f"BookingService.{name} must be between {least} and 100000, not {value}")
        return value

    @validate("ical_limit", "ical_limit_address")
    def _check_feed_limit(self, proposal):
        try:
            Limit.parse(proposal["value"])
        except ValueError as e:
            raise ValueError(f"BookingService.{proposal['trait'].name}: {e}") from None
        return proposal["value"]

    feed_secret = Unicode(
        config=True,
        help="""The key (32 bytes or more) the private calendar feeds' addresses are derived
        from: HMAC-SHA256 of it and each feed's random nonce (docs/security.md). Neither the
        database nor this key alone opens a feed; a new key turns every feed off (users
        make new ones). Default: $AGLAIS_FEED_SECRET, else the file `feed_secret_file`.
        Never on the command line, where any local user reads it. Several processes
        behind one address must share one key.""",
    )
    feed_secret_file = Unicode(
        "booking_feed_secret", config=True,
        help="""Where the calendar feeds' key is kept when `feed_secret` is not set: read
        if it exists (it must be readable by its owner only), else made, with a random
        key, readable by its owner only. Relative to the service's working directory, its
        data directory (where the default SQLite database lives too).""",
    )

    @default("feed_secret")
    def _default_feed_secret(self):
        return os.environ.get("AGLAIS_FEED_SECRET", "")

    @validate("feed_secret")
    def _check_feed_secret(self, proposal):
        if proposal["value"] and len(proposal["value"].encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"BookingService.feed_secret must be at least {MIN_SECRET_BYTES} bytes long "
                             f"(e.g. `openssl rand -hex 32`)")
        return proposal["value"]

    def load_feed_secret(self) -> bytes:
        """The calendar feeds' key: `feed_secret`, else `feed_secret_file`'s, made at the
        first start (as JupyterHub's cookie_secret_file: booking_service/secret_file.py)."""
        if self.feed_secret:
            return self.feed_secret.encode()
        return secret_file.read_or_make(self.feed_secret_file, least=MIN_SECRET_BYTES,
                                        name="BookingService.feed_secret_file", log=self.log)

    def feed_settings(self) -> dict:
        """The tornado settings of the calendar feed (handlers/ical.py)."""
        return {
            "ical": FeedSettings(
                public_url=self.public_url, past=timedelta(days=self.ical_past_days),
                keep_cancelled=timedelta(days=self.ical_cancelled_days), max_events=self.ical_max_events,
                refresh=timedelta(minutes=self.ical_refresh_minutes), secret=self.feed_key),
            "ical_limits": FeedLimits(
                per_feed=WindowCounter(Limit.parse(self.ical_limit)),
                per_address=WindowCounter(Limit.parse(self.ical_limit_address)),
                trusted_proxy_hops=self.trusted_proxy_hops),
        }

    # Options that must be more than zero, and those that may be zero: checked when set,
    # so a bad value stops the service at start-up with the option's name.
    _positive = ("max_blocks", "max_query_days", "alternatives_horizon_days", "seed_pool_days", "hold_minutes",
                 "offers", "offer_hold_minutes", "max_offer_windows", "max_held_offer_sets",
                 "lifecycle_interval", "max_booking_cores", "max_booking_memory_gib", "max_package_cores",
                 "max_package_memory_gib", "db_pool_size",
                 "readiness_timeout")
    _not_negative = ("alternatives", "orphan_grace_seconds")

    @validate(*_positive, *_not_negative)
    def _check_bounds(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        positive = name in self._positive
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ValueError(f"BookingService.{name} must be {'more than zero' if positive else 'zero or more'}, "
                             f"not {value}")
        if name in ("alternatives", "max_offer_windows") and value > 100 or name == "offers" and value > 20:
            raise ValueError(f"BookingService.{name} must be at most {20 if name == 'offers' else 100}, not {value}")
        return value

    @validate("platforms")
    def _check_platforms(self, proposal):
        from .platforms import build_platforms

        build_platforms(proposal["value"])  # ValueError naming the entry stops the start
        return proposal["value"]

    @validate("max_series_occurrences", "max_series_days")
    def _check_series_bounds(self, proposal):
        # a series is written in one transaction, and expanded as far as its horizon
        name, value = proposal["trait"].name, proposal["value"]
        most = 1000 if name == "max_series_occurrences" else 3660
        if not 0 < value <= most:
            raise ValueError(f"BookingService.{name} must be from 1 to {most}, not {value}")
        return value

    @validate("warn_before_minutes")
    def _check_warnings(self, proposal):
        if any(minutes <= 0 for minutes in proposal["value"]):
            raise ValueError(f"BookingService.warn_before_minutes must be minutes more than zero, not {proposal['value']}")
        return proposal["value"]

    @validate("walk_in_pool", "seed_pool")
    def _check_pool_name(self, proposal):
        if proposal["value"]:
            try:
                parse_name(proposal["value"], f"BookingService.{proposal['trait'].name}")
            except BookingError as e:
                raise ValueError(e.message) from None
        return proposal["value"]

    def _service_url(self):
        return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))

    @default("ip")
    def _default_ip(self):
        return self._service_url().hostname or "127.0.0.1"

    @default("port")
    def _default_port(self):
        return self._service_url().port or 10101

    @default("base_url")
    def _default_base_url(self):
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/booking/")
        return prefix if prefix.endswith("/") else prefix + "/"

    @default("db_url")
    def _default_db_url(self):
        return os.environ.get("AGLAIS_BOOKING_DB_URL") or "sqlite+aiosqlite:///booking.sqlite"

    @default("cookie_secret")
    def _default_cookie_secret(self):
        return os.environ.get("AGLAIS_BOOKING_COOKIE_SECRET") or secrets.token_hex(32)

    def initialize(self, argv=None):
        super().initialize(argv)
        if "feed_secret" in self.cli_config.get("BookingService", {}):
            # the command line is in /proc/<pid>/cmdline, and in the hub's log of what it started
            raise ValueError("BookingService.feed_secret is never given on the command line, where any local "
                             "user reads it: set $AGLAIS_FEED_SECRET, or BookingService.feed_secret_file")
        if self.config_file and os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
        self.policy = LevelPolicy(parent=self)
        self.seed_rows = self._parse_seed_packages()

    def _maximum(self, kind: str) -> Resources:
        cores, memory = getattr(self, f"max_{kind}_cores"), getattr(self, f"max_{kind}_memory_gib")
        return Resources(int(cores * MILLICORES_PER_CORE), int(memory * MIB_PER_GIB))

    def _parse_seed_packages(self) -> list[dict]:
        """The seeded packages as columns, checked now: a bad one stops the start."""
        rows = []
        for i, spec in enumerate(self.seed_packages):
            try:
                rows.append(parse_package(spec, self._maximum("package")))
            except BookingError as e:
                raise ValueError(f"BookingService.seed_packages[{i}]: {e.message}") from None
        return rows

    async def check_walk_in_pool(self, engine) -> None:
        """The walk-in pool must be shared; one not created yet is only warned about, as an
        admin may create it through the API after the start."""
        if not self.walk_in_pool:
            return
        async with engine.connect() as conn:
            kind = (await conn.execute(select(orm.Pool.kind).where(orm.Pool.name == self.walk_in_pool))).scalar()
        if kind is None:
            self.log.warning("BookingService.walk_in_pool: there is no pool named %r yet; users without a booking "
                             "get no server until an admin creates it (POST /pools, kind 'shared')", self.walk_in_pool)
        elif kind != "shared":
            raise ValueError(f"BookingService.walk_in_pool: the pool {self.walk_in_pool!r} is {kind}, not shared; "
                             f"name a shared pool")

    def make_app(self, engine) -> web.Application:
        self.context = Context(
            engine=engine,
            policy=self.policy,
            max_blocks=self.max_blocks,
            max_query_span=timedelta(days=self.max_query_days),
            alternatives=self.alternatives,
            alternatives_horizon=timedelta(days=self.alternatives_horizon_days),
            walk_in_pool=self.walk_in_pool or None,
            hold=timedelta(minutes=self.hold_minutes),
            offers=self.offers,
            offer_hold=timedelta(minutes=self.offer_hold_minutes),
            max_offer_windows=self.max_offer_windows,
            max_held_offer_sets=self.max_held_offer_sets,
            max_booking=self._maximum("booking"),
            max_package=self._maximum("package"),
            max_series_occurrences=self.max_series_occurrences,
            max_series_days=self.max_series_days,
            warn_before_minutes=list(self.warn_before_minutes),
            hub=HubClient(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
            if os.environ.get("JUPYTERHUB_API_TOKEN") else None,
            notify_before_start=self._lead("notify_before_start"),
            notify_before_end=self._lead("notify_before_end"),
            notify_before_offer_expiry=self._lead("notify_before_offer_expiry"),
            mail_notices=self.mail_notices,
            platforms=build_platforms(self.platforms, horizon=timedelta(days=self.alternatives_horizon_days)),
            workers=parse_workers(self.preparation_workers),
            worker_client=WorkerClient(),
            callback_url=self.callback_url if self.callback_url.endswith("/") else self.callback_url + "/",
            reclaim_unstarted=dict(self.reclaim_unstarted_minutes),
        )
        hub_auth = HubOAuth(parent=self)  # configured from the JUPYTERHUB_* environment
        return web.Application(
            routes(self.base_url),
            booking_context=self.context,
            booking_prefix=self.base_url,
            clock=lambda: utcnow(),
            hub_auth=hub_auth,
            cookie_secret=self.cookie_secret,
            readiness_timeout=self.readiness_timeout,
            default_handler_class=NotFoundHandler,
            **static_settings(self.base_url),  # the calendar's scripts and styles
            log_function=self._log_request,
            **self.feed_settings(),
        )

    def _lead(self, name: str) -> timedelta | None:
        minutes = getattr(self, name)
        return timedelta(minutes=minutes) if minutes else None

    def _log_request(self, handler):
        status = handler.get_status()
        quiet = status < 400 and handler.request.method in ("GET", "HEAD")
        level = self.log.warning if status >= 500 else self.log.debug if quiet else self.log.info
        request = handler.request
        # what tornado's private RequestHandler._request_summary() says, from public fields
        # a handler whose path holds a secret (the calendar feed's) names a stand-in for it
        uri = getattr(handler, "log_uri", None) or request.uri
        level("%d %s %s (%s) %.1fms", status, request.method, uri, request.remote_ip,
              1000 * request.request_time())

    async def seed(self, engine) -> None:
        """Create the seeded packages and pool if missing; several processes starting at
        once collide on unique constraints, and the losers find the work done."""
        now = utcnow()
        async with engine.connect() as conn:
            has_packages = (await conn.execute(select(func.count()).select_from(orm.PackageTemplate))).scalar()
        if not has_packages and self.seed_rows:
            rows = [dict(values, version=1, created=now) for values in self.seed_rows]
            try:
                async with engine.begin() as conn:
                    await conn.execute(insert(orm.PackageTemplate), rows)
                self.log.info("Seeded packages %s", ", ".join(r["name"] for r in rows))
            except IntegrityError:
                pass
        seeds = [(self.seed_pool, "reserved")]
        if self.seed_pool and self.walk_in_pool:
            seeds.append((self.walk_in_pool, "shared"))
        for name, kind in seeds:
            if not name:
                continue
            try:
                await self._seed_pool(engine, parse_name(name, "BookingService.seed_pool"), kind, now)
            except IntegrityError:
                pass

    async def _seed_pool(self, engine, name: str, kind: str, now: datetime) -> None:
        start = now.replace(hour=0, minute=0, second=0)
        end = start + timedelta(days=self.seed_pool_days)
        cores, memory_gib = os.cpu_count() or 1, int(machine_memory_gib())
        async with engine.begin() as conn:
            exists = (await conn.execute(select(orm.Pool.id).where(orm.Pool.name == name))).first()
            if exists:
                return
            pool_id = (
                await conn.execute(
                    insert(orm.Pool).values(name=name, kind=kind, version=1, created=now,
                                            description=f"This machine: {cores} cores, {memory_gib} GiB")
                    .returning(orm.Pool.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(orm.CapacityGrant).values(
                    pool_id=pool_id, start=start, end=end, millicores=cores * 1000, mib=memory_gib * 1024,
                    created=now, created_by=self.name, changed_version=1,
                )
            )
        self.log.info("Seeded pool %s: %d cores, %d GiB until %s", name, cores, memory_gib, format_time(end))

    async def start_async(self) -> HTTPServer:
        # first: a bad feed secret stops the start before the database is touched
        self.feed_key = self.load_feed_secret()
        self.engine = engine = store.make_engine(self.db_url, pool_size=self.db_pool_size)
        if self.upgrade_db:
            await store.upgrade(engine)
        app = self.make_app(engine)
        await self.seed(engine)
        await self.check_walk_in_pool(engine)
        # Start-up's objects live as long as the process: keep them out of the collector's
        # full passes, whose pauses (tens of ms) would otherwise hold pool locks.
        gc.collect()
        gc.freeze()
        # no route takes more than MAX_BODY (64 KiB, a JSON 413 above it); a body announced
        # larger than this is refused at its headers (tornado answers 400 and closes), not
        # read into memory first, as tornado's default (100 MiB) would, on routes that need
        # no login (the callbacks)
        server = HTTPServer(app, xheaders=True, max_body_size=16 * MAX_BODY)
        server.listen(self.port, self.ip)
        self.lifecycle = Lifecycle(self.context, interval=self.lifecycle_interval, clock=lambda: utcnow(),
                                   orphan_grace=self.orphan_grace_seconds)
        self.lifecycle_task = asyncio.ensure_future(self.lifecycle.run())
        self.log.info("Booking service listening on http://%s:%d%s", self.ip, self.port, self.base_url)
        return server

    async def stop_async(self, server: HTTPServer) -> None:
        """Stop listening, end the lifecycle loop and give its lease up (so another
        replica takes over at once), then close the database connections."""
        self.log.info("Booking service stopping")
        server.stop()
        self.lifecycle_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.lifecycle_task
        try:
            await asyncio.wait_for(self.lifecycle.release(), 5)
        except Exception as e:  # the database is gone: the lease lapses by itself
            self.log.warning("Could not release the lifecycle lease (%s); it lapses within %g s",
                             type(e).__name__, 3 * self.lifecycle_interval)
        await self.engine.dispose()

    def start(self):
        async def main():
            # The hub stops managed services with SIGTERM, and so does Kubernetes a pod;
            # Ctrl-C sends SIGINT. Either, even during start-up, ends the process with 0.
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stopping.set)
            starting, stopped = asyncio.ensure_future(self.start_async()), asyncio.ensure_future(stopping.wait())
            await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                self.log.info("Booking service stopping before it started")
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                if getattr(self, "engine", None) is not None:
                    await self.engine.dispose()
                return
            if starting.exception() is not None:
                stopped.cancel()
            server = starting.result()  # a failed start raises here
            await stopped
            await self.stop_async(server)

        asyncio.run(main())


main = BookingService.launch_instance

if __name__ == "__main__":
    main()

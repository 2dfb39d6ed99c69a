"""Run the benchmarks and print their tables: ``python -m benchmarks [--quick]``.

Starts a throwaway PostgreSQL cluster (tests.postgres) and a real JupyterHub with
configurable-http-proxy and four hub-managed booking services (tests.hub):

- bench-avail: PostgreSQL database `avail` (the availability pools, 10k and 100k bookings);
- bench-pg-a and bench-pg-b: two processes sharing PostgreSQL database `admit`;
- bench-lite: SQLite, for comparison.

In process, without the hub: F (the offer search, its own database), G (the lifecycle
round, PostgreSQL databases and SQLite files of its own), H (the calendar feed) and I
(series expansion, plain dateutil in subprocesses).

Everything is thrown away at the end (``--keep`` keeps the hub's directory and log).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from tests.hub import start_hub, stop_hub
from tests.postgres import ThrowawayPostgres

from . import accounts, admission, availability, feed, gate, lifecycle, offers, series
from .common import ThroughputRow, case_table, cmdline, cpu_table, latency_table, prepare_database, throughput_table

STARTED = time.perf_counter()
LOAD_AT_START = os.getloadavg()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (f"{os.cpu_count()} CPUs ({model}), {memory:.0f} GiB memory, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def code_version() -> str:
    """The commit, and whether the service's code differs from it (read-only git calls)."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent.parent,
                                  capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("diff", "--stat", "HEAD", "--", "booking_service", "hub_extension").splitlines()
    return f"commit {commit}" + (f" + uncommitted changes ({changed[-1].strip()})" if changed else "")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 10k bookings only, fewer repetitions, 500 admission requests; "
                             "I's dateutil timeout 5 s")
    parser.add_argument("--only", choices=["availability", "admission", "gate", "accounts", "offers", "lifecycle", "feed", "series"], help="run one part only")
    parser.add_argument("--requests", type=int, help="admission requests per run (default 2000, quick 500)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent admission clients (default 64)")
    parser.add_argument("--rounds", type=int,
                        help="admission rounds per configuration; the table shows the best (default 2, quick 1)")
    parser.add_argument("--keep", action="store_true", help="keep the hub's work directory (logs) at the end")
    return parser.parse_args(argv)


async def run(args) -> int:
    if args.quick:
        sizes = [10_000]
        reps = availability.Reps(sql=5, sql_budget_s=10, fetch=5, cold=3, warm=50, http=30)
        requests = args.requests or 500
        rounds = args.rounds or 1
    else:
        sizes = [10_000, 100_000]
        reps = availability.Reps()
        requests = args.requests or 2000
        rounds = args.rounds or 2
    cfg = admission.Admission(clients=args.clients, requests=requests)
    AsyncHTTPClient.configure(None, max_clients=max(64, args.clients))

    latency_rows, throughput_rows, gate_rows, accounts_rows, offer_rows = [], [], [], [], []
    lifecycle_rows, feed_rows, series_rows, checks = [], [], [], []
    workdir = Path(tempfile.mkdtemp(prefix="aglais-bench-"))
    cluster = ThrowawayPostgres().start()
    hub = None
    tracebacks = 0
    try:
        avail_url = cluster.url(cluster.create_database("avail"))
        admit_url = cluster.url(cluster.create_database("admit"))
        lite_url = f"sqlite+aiosqlite:///{workdir}/lite.sqlite"
        for url in (avail_url, admit_url):
            await prepare_database(url)
        log(f"PostgreSQL on port {cluster.port}; work directory {workdir}")

        answers = {}
        if args.only in (None, "availability"):
            gc.collect()
            rows, answers = await availability.run_direct(
                avail_url, cluster.url("avail", driver="postgresql"), sizes, reps, log)
            latency_rows += rows

        if args.only in (None, "offers"):
            gc.collect()
            offers_url = cluster.url(cluster.create_database("offers"))
            await prepare_database(offers_url)
            offer_rows = await offers.run(offers_url, cluster.url("offers", driver="postgresql"), sizes,
                                          3 if args.quick else 5, 20 if args.quick else 60, log)

        if args.only in (None, "lifecycle"):
            gc.collect()
            lifecycle_rows = await lifecycle.run(cluster, workdir, 10_000 if args.quick else 100_000,
                                                 8 if args.quick else 24, log)
        if args.only in (None, "feed"):
            gc.collect()
            feed_rows, failures = feed.run(5 if args.quick else 20, log)
            checks += failures
        if args.only in (None, "series"):
            gc.collect()
            series_rows, failures = series.run(3 if args.quick else 10, 5 if args.quick else 20, log)
            checks += failures
        services = {"bench-avail": avail_url, "bench-pg-a": admit_url, "bench-pg-b": admit_url, "bench-lite": lite_url}
        if args.only not in ("lifecycle", "feed", "series"):  # the in-process rows need no hub
            hub = start_hub(workdir, services)
            log(f"hub up at {hub.url} with services {', '.join(services)}")

        if args.only in (None, "availability"):
            reader = await hub.new_user(groups=["level-1"], prefix="reader")
            seed_medians = {(r.bookings, r.query): r.median for r in latency_rows if r.benchmark == "seed SQL"}
            gc.collect()
            latency_rows += await availability.run_http(
                hub, "bench-avail", reader.token, sizes, reps, answers, seed_medians, log)

        if args.only in (None, "admission"):
            roles = await process_roles(hub, cluster)
            admin = await hub.new_user(admin=True, prefix="bench-admin")
            users = await admission.make_users(hub, cfg.clients)
            log(f"{len(users)} level-1 users with tokens; capacity {cfg.capacity_cores()} cores")
            configs = [
                ("PostgreSQL, 1 process", ["bench-pg-a"], admit_url),
                ("PostgreSQL, 2 processes", ["bench-pg-a", "bench-pg-b"], admit_url),
                ("SQLite, 1 process", ["bench-lite"], lite_url),
            ]
            # Rounds interleave the configurations, so a burst of load from elsewhere on a
            # shared machine spoils one round of each rather than every round of one.
            runs: dict[str, list[ThroughputRow]] = {label: [] for label, _, _ in configs}
            for _round in range(rounds):
                for label, targets, db_url in configs:
                    gc.collect()
                    runs[label].append(
                        await admission.run_admission(hub, admin, users, targets, db_url, label, cfg, log, roles))
            for label, rows in runs.items():
                best = max(rows, key=lambda r: r.decisions_per_s)
                for row in rows:  # every round must be correct, not just the one shown
                    if row is not best:
                        best.notes += row.notes
                        best.overbooked = best.overbooked or row.overbooked
                        for status, count in row.other.items():
                            best.other[status] = best.other.get(status, 0) + count
                if len(rows) > 1:
                    best.notes.append("best of %d rounds; decisions/s in each: %s" % (
                        len(rows), ", ".join(f"{r.decisions_per_s:.0f}" for r in rows)))
                throughput_rows.append(best)
        if args.only in (None, "accounts"):
            accounts_rows = await accounts.run_accounts(
                workdir, cluster.url(cluster.create_database("accounts")), args.quick, log)
        if args.only in (None, "gate"):
            gate_dir = workdir / "gate"
            gate_dir.mkdir()
            gate_rows = await gate.run_gate(gate_dir, 10 if args.quick else 30, log)
    finally:
        if hub is not None:
            stop_hub(hub.process)
            hub_log = workdir / "hub.log"
            tracebacks = hub_log.read_text(errors="replace").count("Traceback") if hub_log.exists() else 0
        cluster.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    order = {name: i for i, name in enumerate(availability.ORDER)}
    latency_rows.sort(key=lambda r: (r.bookings, list(availability.QUERIES).index(r.query), order[r.benchmark]))
    print()
    print(f"aglais-hub benchmarks{' (--quick)' if args.quick else ''}: {machine()}")
    print(f"code: {code_version()}")
    print(f"total time {time.perf_counter() - STARTED:.0f}s; tracebacks in the hub's log: {tracebacks}; "
          f"load average at start {LOAD_AT_START[0]:.2f}, at end {os.getloadavg()[0]:.2f}")
    if latency_rows:
        print()
        print("A. Availability of one pool over a month at hour grain (720 blocks) and the year at day grain "
              "(365 blocks), PostgreSQL")
        print(latency_table(latency_rows))
    if offer_rows:
        order = {name: i for i, name in enumerate(offers.ORDER)}
        offer_rows.sort(key=lambda r: (r.bookings, order[r.benchmark]))
        print()
        print("F. The offer search over a month at minute resolution (4 offers of C cores / 600 GiB for 2 h "
              "starting in June; ranges: up to C + 300 cores / 1500 GiB and 6 h), PostgreSQL; seed/this is "
              "Calycopis' SQL's median over the row's")
        print(latency_table(offer_rows))
    if throughput_rows:
        print()
        print(f"B. Admission through the hub's proxy: {cfg.clients} concurrent clients, level-1 users booking "
              f"'{admission.PACKAGE}' for {admission.MIN_HOURS}-{admission.MAX_HOURS} h over "
              f"{admission.SPREAD_DAYS} days into one pool of {cfg.capacity_cores()} cores"
              + (f"; best of {rounds} rounds" if rounds > 1 else ""))
        print(throughput_table(throughput_rows))
        for row in throughput_rows:
            for note in row.notes:
                print(f"  {row.target}: {note}")
        print()
        print("C. Where the admission runs' CPU went (each process's user+system time, /proc), per request")
        print(cpu_table(throughput_rows))
    if gate_rows:
        print()
        print("D. The spawn gate: the booking service's round trips as the spawner makes them, and whole "
              "spawns (a stand-in server) with the gate and with a stand-in gate, interleaved")
        print(latency_table(gate_rows))
        by = {r.query: r.median for r in gate_rows}
        print(f"  the gate adds {by['spawn+stop, booking gate'] - by['spawn+stop, stand-in gate']:.1f} ms "
              f"to a spawn+stop at the median")
    if accounts_rows:
        print()
        print("E. Accounts: the login path's store calls in process, and a cheap hub request while "
              "8 clients log in with passwords (argon2id runs off the hub's event loop), and another user's "
              "login while one user's account page walks a 200k-file home")
        print(accounts.table(accounts_rows))
    if lifecycle_rows:
        print()
        print("G. The lifecycle round (Lifecycle.tick) over one pool of bookings 30 days either side of now, "
              "rounds 5 minutes apart, with the (phase, start)/(phase, end) indexes of migration 0006 and "
              "without them; seed/this is without/this")
        print(latency_table(lifecycle_rows))
    if feed_rows:
        print()
        print("H. The calendar feed (calendar_feed.render, icalendar) against a minimal hand-written RFC 5545 "
              "serializer kept in the benchmark as a yardstick")
        print(case_table(feed_rows, "icalendar/this"))
    if series_rows:
        print()
        print("I. Series expansion (recurrence.expand, bounded) against plain dateutil with UNTIL clamped at "
              "the horizon (in a subprocess with a timeout)")
        print(series.table(series_rows))
    for failure in checks:
        print(f"CHECK FAILED: {failure}")
    failed = tracebacks > 0 or bool(checks) or any(_failed(r) for r in throughput_rows)
    return 1 if failed else 0


async def process_roles(hub, cluster) -> dict[int, str]:
    """pid -> role for the CPU accounting: this process is the client; the hub's children
    are the proxy and the booking services; the postmaster heads PostgreSQL's processes."""
    roles = {os.getpid(): "client", hub.process.pid: "hub"}
    for name in hub.services:
        pid = (await hub.hub_api("GET", f"services/{name}")).get("pid")
        if pid:
            roles[pid] = "service"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and "configurable-http-proxy" in cmdline(int(entry.name)):
            try:
                ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == hub.process.pid:
                roles[int(entry.name)] = "proxy"
    postmaster = Path(cluster.data_dir, "postmaster.pid").read_text().split()[0]
    roles[int(postmaster)] = "postgres"
    return roles


def _failed(row: ThroughputRow) -> bool:
    return bool(row.overbooked or row.other or any("booked rows" in note for note in row.notes))


def main(argv=None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

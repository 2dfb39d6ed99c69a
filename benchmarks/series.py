"""I. Series expansion: `recurrence.parse_rule` + `recurrence.expand` (bounded: the rule is
expanded on twin years late in the calendar, so even a rule no day matches runs out fast)
against plain dateutil with an UNTIL clamp at the series' horizon, for a daily, a weekly,
a yearly and an impossible rule (30 February).

Plain dateutil runs in a subprocess with a timeout: it checks UNTIL only when a day passes
the rule's filters, so on the impossible rule it walks day by day to year 9999. Where both
give starts, they must be the same; ours must refuse the impossible rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta

from booking_service.domain import Invalid
from booking_service.recurrence import expand, parse_rule

from .common import LatencyRow, _fmt_ms, render_table

START = datetime(2027, 3, 1, 20, 0)  # naive, on the series' wall clock (UTC here)
MAX_DAYS = 180  # Context.max_series_days, the default
MAX_OCCURRENCES = 100
CASES = [  # (name, rule, whether ours books it)
    ("daily, COUNT=100", "FREQ=DAILY;COUNT=100", True),
    ("weekends, COUNT=12", "FREQ=WEEKLY;BYDAY=SA,SU;COUNT=12", True),
    ("yearly, until the horizon", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1;UNTIL=20270801", True),
    ("30 February, COUNT=5", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=5", False),
]

# Plain dateutil, as one would write it: the rule without COUNT, UNTIL clamped at the
# horizon, the first COUNT taken. Prints each run's milliseconds and the starts found.
PLAIN = """
import json, sys, time
from datetime import datetime
from dateutil.rrule import rrulestr
text, start, horizon, count, reps = json.loads(sys.argv[1])
start, horizon = datetime.fromisoformat(start), datetime.fromisoformat(horizon)
samples = []
for _ in range(reps):
    t0 = time.perf_counter()
    parts = [p for p in text.split(";") if not p.startswith(("COUNT=", "UNTIL="))]
    until = horizon
    for p in text.split(";"):
        if p.startswith("UNTIL="):
            until = min(until, datetime.strptime(p[6:], "%Y%m%d").replace(hour=23, minute=59, second=59))
    found = list(rrulestr(";".join(parts), dtstart=start).replace(until=until))
    if count is not None:
        found = found[:count]
    samples.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"samples": samples, "starts": [m.isoformat() for m in found]}), flush=True)
"""


def ours(text: str):
    rule = parse_rule(text, None)
    try:
        return [o.local for o in expand(rule, START, None, timedelta(hours=12), max_occurrences=MAX_OCCURRENCES,
                                        max_days=MAX_DAYS)]
    except Invalid:
        return None


def plain(text: str, reps: int, timeout: float):
    """(samples in ms, starts) from plain dateutil in a subprocess, or (None, None) on timeout
    (the samples of runs that finished are kept)."""
    count = next((int(p[6:]) for p in text.split(";") if p.startswith("COUNT=")), None)
    horizon = START + timedelta(days=MAX_DAYS) - timedelta(seconds=1)
    args = json.dumps([text, START.isoformat(), horizon.isoformat(), count, reps])
    try:
        done = subprocess.run([sys.executable, "-c", PLAIN, args], capture_output=True, text=True,
                              timeout=timeout, check=True)
        last = json.loads(done.stdout.strip().splitlines()[-1])
        return last["samples"], [datetime.fromisoformat(m) for m in last["starts"]]
    except subprocess.TimeoutExpired:
        return None, None


def run(reps: int, timeout: float, log) -> tuple[list[tuple], list[str]]:
    rows, failures = [], []
    for name, text, bookable in CASES:
        found = ours(text)
        if (found is not None) != bookable:
            failures.append(f"series {name}: ours {'refused' if found is None else 'expanded'} it")
        samples = []
        for _ in range(reps * 10):
            t0 = time.perf_counter()
            ours(text)
            samples.append((time.perf_counter() - t0) * 1000)
        ours_row = LatencyRow("ours (bounded)", 0, name, samples)
        plain_samples, plain_starts = plain(text, reps if bookable else 1, timeout)
        if plain_starts is not None and bookable and plain_starts != found:
            failures.append(f"series {name}: ours and dateutil give different starts "
                            f"({len(found)} against {len(plain_starts)})")
        if plain_starts is not None and not bookable and plain_starts:
            failures.append(f"series {name}: dateutil found starts for an impossible rule")
        rows.append((name, "plain dateutil, UNTIL at the horizon", plain_samples, None, timeout))
        base = None if plain_samples is None else LatencyRow("", 0, "", plain_samples).median
        rows.append((name, "ours (bounded)", ours_row.samples, base, timeout))
        log(f"series {name}: ours {ours_row.median:.2f} ms, dateutil "
            + (f"> {timeout:g} s" if plain_samples is None else f"{base:.2f} ms"))
    return rows, failures


def table(rows) -> str:
    body = []
    for name, method, samples, base, timeout in rows:
        if samples is None:
            body.append([name, method, "1", f"> {timeout * 1000:,.0f}", "", "1"])
            continue
        row = LatencyRow(method, 0, name, samples, base)
        ratio = row.vs_seed() if base is not None else "1" if method.startswith("plain") else \
            f"> {timeout * 1000 / row.median:,.0f}"
        body.append([name, method, str(len(samples)), _fmt_ms(row.median), _fmt_ms(row.p90), ratio])
    return render_table(["rule", "method", "n", "median ms", "p90 ms", "dateutil/this"], body, right={2, 3, 4, 5})

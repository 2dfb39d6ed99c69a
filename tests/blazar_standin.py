"""A STAND-IN for the parts of OpenStack Blazar's v1 REST API that the Blazar platform
plugin uses (booking_service/platforms/blazar.py), for tests where no OpenStack runs. It is
NOT Blazar: no Keystone (one fixed token in X-Auth-Token), no Nova, no projects, no
events, no lease status machine. It keeps leases in memory and refuses one that does not
fit, as Blazar does:

- GET /v1/os-hosts: the reservable hosts ({"hosts": [{"id", "hypervisor_hostname",
  "vcpus", "memory_mb", ...}]});
- POST /v1/leases {"name", "start_date", "end_date" ("YYYY-MM-DD HH:MM", UTC),
  "reservations": [...], "events": []}: 201 {"lease": {...}} when it fits; when it does
  not, 500 {"error_name": "NotEnoughHostsAvailable", ...} (a BlazarException keeps its
  default code 500); a name taken is 409. A `physical:host` reservation takes `min`
  whole hosts, a `flavor:instance` one `amount` instances of a flavor of `flavors`,
  packed into the hosts' free vcpus and memory;
- GET /v1/leases, GET/PUT (name only)/DELETE /v1/leases/{id}.

It runs in a thread with its own event loop (as tests/kube_standin.py), so a booking
service in another process reaches it over HTTP.

    with BlazarStandIn(hosts=[(4, 16384)], token="t") as blazar:
        blazar.url          # http://127.0.0.1:<port>/
        blazar.leases()     # what it holds now
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import datetime, timezone

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

DATE = "%Y-%m-%d %H:%M"


def parse_date(text: str) -> datetime:
    return datetime.strptime(text, DATE).replace(tzinfo=timezone.utc)


class State:
    def __init__(self, hosts, flavors, token):
        self.hosts = [{"id": str(i + 1), "hypervisor_hostname": f"compute-{i + 1}", "vcpus": vcpus,
                       "memory_mb": memory, "local_gb": 100, "service_name": f"compute-{i + 1}"}
                      for i, (vcpus, memory) in enumerate(hosts)]
        self.flavors = flavors  # id -> (vcpus, memory_mb)
        self.token = token
        self.leases: dict[str, dict] = {}
        self.lock = threading.Lock()

    def need(self, reservation: dict) -> tuple[int, int, int]:
        """(whole hosts, vcpus, memory_mb) a reservation takes."""
        kind = reservation.get("resource_type")
        if kind == "physical:host":
            return int(reservation["min"]), 0, 0
        if kind == "flavor:instance":
            vcpus, memory = self.flavors[reservation["flavor_id"]]
            amount = int(reservation["amount"])
            return 0, vcpus * amount, memory * amount
        raise ValueError(f"unsupported resource_type {kind!r}")

    def fits(self, start: datetime, end: datetime, reservations: list, ignore: str | None = None) -> bool:
        """At every moment of [start, end): the whole hosts taken plus the new ones are at
        most the hosts there are, and the instances fit in the rest (a simple capacity
        check: Blazar would also pick hosts; for these tests, counting is enough)."""
        moments = {start} | {parse_date(lease["start_date"]) for lease in self.leases.values()
                             if start <= parse_date(lease["start_date"]) < end}
        for moment in moments:
            hosts = vcpus = memory = 0
            for lease in self.leases.values():
                if lease["id"] != ignore and parse_date(lease["start_date"]) <= moment < parse_date(lease["end_date"]):
                    for r in lease["reservations"]:
                        h, c, m = self.need(r)
                        hosts, vcpus, memory = hosts + h, vcpus + c, memory + m
            for r in reservations:
                h, c, m = self.need(r)
                hosts, vcpus, memory = hosts + h, vcpus + c, memory + m
            free = sorted(self.hosts, key=lambda x: x["vcpus"])[hosts:] if hosts <= len(self.hosts) else None
            if free is None or vcpus > sum(x["vcpus"] for x in free) or memory > sum(x["memory_mb"] for x in free):
                return False
        return True


class Base(web.RequestHandler):
    @property
    def state(self) -> State:
        return self.settings["state"]

    def prepare(self):
        if self.request.headers.get("X-Auth-Token") != self.state.token:
            self.error(401, "Unauthorized", "The request you have made requires authentication.")

    def error(self, code: int, name: str, message: str):
        self.set_status(code)
        self.finish({"error_code": code, "error_name": name, "error_message": message})

    def body(self) -> dict:
        return json.loads(self.request.body or b"{}")


class HostsHandler(Base):
    def get(self):
        self.finish({"hosts": self.state.hosts})


class LeasesHandler(Base):
    def get(self):
        with self.state.lock:
            self.finish({"leases": list(self.state.leases.values())})

    def post(self):
        body = self.body()
        try:
            start, end = parse_date(body["start_date"]), parse_date(body["end_date"])
            reservations = body["reservations"]
            for r in reservations:
                self.state.need(r)
        except (KeyError, ValueError, TypeError) as e:
            return self.error(400, "MalformedParameter", f"Malformed parameter {e}")
        if end <= start:
            return self.error(400, "InvalidDate", "end_date must be later than start_date")
        with self.state.lock:
            if any(lease["name"] == body.get("name") for lease in self.state.leases.values()):
                return self.error(409, "LeaseNameAlreadyExists", f"The lease name {body.get('name')} already exists")
            if not self.state.fits(start, end, reservations):
                return self.error(500, "NotEnoughHostsAvailable", "Not enough hosts available")
            lease_id = str(uuid.uuid4())
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000")
            lease = {"id": lease_id, "name": body.get("name"), "start_date": body["start_date"],
                     "end_date": body["end_date"], "status": "PENDING", "degraded": False, "user_id": "standin",
                     "project_id": "standin", "trust_id": "", "created_at": now, "updated_at": None,
                     "events": [], "reservations": [{**r, "id": str(uuid.uuid4()), "lease_id": lease_id,
                                                     "status": "pending"} for r in reservations]}
            self.state.leases[lease_id] = lease
        self.set_status(201)
        self.finish({"lease": lease})


class LeaseHandler(Base):
    def _lease(self, lease_id):
        lease = self.state.leases.get(lease_id)
        if lease is None:
            self.error(404, "NotFound", f"Object with {{'lease_id': '{lease_id}'}} not found")
        return lease

    def get(self, lease_id):
        with self.state.lock:
            lease = self._lease(lease_id)
            if lease is not None:
                self.finish({"lease": lease})

    def put(self, lease_id):
        body = self.body()
        with self.state.lock:
            lease = self._lease(lease_id)
            if lease is None:
                return
            if set(body) - {"name"}:
                return self.error(400, "MalformedParameter", "this stand-in changes a lease's name only")
            lease["name"] = body.get("name", lease["name"])
            self.finish({"lease": lease})

    def delete(self, lease_id):
        with self.state.lock:
            if self._lease(lease_id) is None:
                return
            del self.state.leases[lease_id]
        self.set_status(204)
        self.finish()


class BlazarStandIn:
    def __init__(self, *, hosts=((4, 16384),), flavors=None, token="keystone-token"):
        self.state = State(list(hosts), dict(flavors or {}), token)
        self.token = token
        self._sockets = bind_sockets(0, "127.0.0.1")
        self.port = self._sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def _run(self):
        asyncio.set_event_loop(self._loop)
        app = web.Application([(r"/v1/os-hosts", HostsHandler), (r"/v1/leases", LeasesHandler),
                               (r"/v1/leases/([0-9a-f-]+)", LeaseHandler)], state=self.state)
        self._server = HTTPServer(app)
        self._server.add_sockets(self._sockets)
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> "BlazarStandIn":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._server.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def leases(self) -> list[dict]:
        with self.state.lock:
            return [dict(lease) for lease in self.state.leases.values()]

    def add_lease(self, start: str, end: str, hosts: int = 1, name: str | None = None) -> str:
        """Someone else's lease (another project), straight into the stand-in's store."""
        lease_id = str(uuid.uuid4())
        with self.state.lock:
            self.state.leases[lease_id] = {
                "id": lease_id, "name": name or f"other-{lease_id[:8]}", "start_date": start, "end_date": end,
                "status": "PENDING", "events": [],
                "reservations": [{"resource_type": "physical:host", "min": hosts, "max": hosts}]}
        return lease_id

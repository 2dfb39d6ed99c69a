"""A stand-in Kubernetes cluster for tests, where no real one can run: kmock's in-memory
Kubernetes API (served over HTTP, with watch) plus the few shims KubeSpawner needs, and a
fake kubelet. It is NOT a Kubernetes API server: no scheduler, no admission, no label
or field selectors, no quota, no volumes; what a test learns from it is what KubeSpawner
and our spawner asked of the API and how they react to what a cluster reports back.

The shims (kmock 0.8 stores objects as they are sent and merges patches as plain dicts):

- on create, fill what the API server would: metadata.namespace, uid, creationTimestamp,
  resourceVersion (and a new resourceVersion on every update), status.phase Pending for a
  pod, and a PVC bound at once at the size it asks for (a stand-in provisioner);
- kubernetes_asyncio sends `watch=True`, kmock knows a watch by `watch=true`: rewritten;
- the resources KubeSpawner lists and watches are declared: pods, events,
  persistentvolumeclaims, and the secrets our spawner makes for Spark sessions;
- the fake kubelet watches pods through the API as a kubelet does and reports each one
  Running with a podIP of its own (127.0.0.2, 127.0.0.3, ...: loopback addresses, so pods
  do not share ports) and ready containers. With `servers` set it also runs the
  container for real where its command is `jupyterhub-singleuser`: that program from the
  servers' Python, with the container's environment, as the container's user (never
  root), in a scratch home, listening on the pod's address; so the hub and its proxy
  reach a real server at the pod's URL. A deleted pod's process is stopped; a process
  that exits, or that a test kills, is reported terminated, as a kubelet reports a dead
  container.

It runs in a thread with its own event loop, so that a hub in another process and tests
in this one both reach it over HTTP while pytest's own loop is busy or blocked.

    with StandInCluster(namespace="aglais", servers=venv) as cluster:
        cluster.write_kubeconfig(path)   # KubeSpawner finds the API through $KUBECONFIG
        cluster.get(f"/api/v1/namespaces/aglais/pods/{name}")
        cluster.kill(name)               # the pod's container dies
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import kmock

RESOURCES = {
    "v1/pods": {"kind": "Pod", "singular": "pod", "namespaced": True, "subresources": {"status"}},
    "v1/events": {"kind": "Event", "singular": "event", "namespaced": True},
    "v1/persistentvolumeclaims": {"kind": "PersistentVolumeClaim", "singular": "persistentvolumeclaim",
                                  "namespaced": True, "subresources": {"status"}},
    "v1/secrets": {"kind": "Secret", "singular": "secret", "namespaced": True},  # a Spark session's
}
NOBODY = 65534


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StandInAPI(kmock.KubernetesEmulator):
    """kmock's emulator with the API server's own bookkeeping (see the module's docstring),
    and two pieces of admission: `refused_labels` (label -> value) refuses to create a pod
    so labelled, as a ResourceQuota does (403), and `refused_deletes` (names) refuses to
    delete those objects, as RBAC would (403), both before kmock would change its store.

    kmock's private API, used here only: the emulator stores what a request changes in
    `_handle(request)`, before any reaction answers it, so the shims wrap that method
    (kmock 0.8, https://github.com/nolar/kmock/blob/0.8/kmock/_internal/k8s.py, class
    KubernetesEmulator); `__call__(raw_request)` is its public aiohttp entry point."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._versions = itertools.count(1)
        self.refused_labels: dict[str, str] = {}
        self.refused: list[dict] = []  # the pods refused, as they were sent
        self.refused_deletes: set[str] = set()
        self.deletes: list[str] = []  # the names of every DELETE received
        for resource, info in RESOURCES.items():
            self.resources[resource] = info

    async def __call__(self, raw_request):
        if raw_request.query.get("watch") == "True":  # kubernetes_asyncio's spelling
            raw_request = raw_request.clone(rel_url=raw_request.rel_url.update_query(watch="true"))
        return await super().__call__(raw_request)

    async def _handle(self, request):
        if request.action == kmock.action.DELETE:
            self.deletes.append(request.name)
            if request.name in self.refused_deletes:
                raise kmock.KubernetesError(status=403, reason="Forbidden",
                                            message=f'{request.resource.plural} "{request.name}" is forbidden')
        data = request.data if isinstance(request.data, dict) else None
        if data is not None and request.action == kmock.action.CREATE:
            meta = data.setdefault("metadata", {})
            labels = meta.get("labels") or {}
            if request.resource.plural == "pods" and any(labels.get(k) == v for k, v in self.refused_labels.items()):
                self.refused.append(data)
                raise kmock.KubernetesError(status=403, reason="Forbidden",
                                            message=f'pods "{meta.get("name")}" is forbidden: exceeded quota')
            meta.setdefault("namespace", request.namespace)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), resourceVersion=str(next(self._versions)))
            if request.resource.plural == "pods":
                data["status"] = {"phase": "Pending"}
            elif request.resource.plural == "persistentvolumeclaims":
                requests = (data.get("spec") or {}).get("resources", {}).get("requests", {})
                data["status"] = {"phase": "Bound", "capacity": dict(requests)}
        elif data is not None and request.action == kmock.action.UPDATE:
            data.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))
        return await super()._handle(request)


class Kubelet:
    """The fake kubelet: reports pods running (and runs their server, see the module's
    docstring), stops a deleted pod's process, reports a dead one terminated."""

    def __init__(self, url: str, servers: Path | None, workdir: Path):
        self.url, self.servers, self.workdir = url, servers, workdir
        self.addresses = (f"127.0.0.{n}" for n in itertools.count(2))
        self.processes: dict[tuple[str, str], subprocess.Popen] = {}
        self.seen: set[str] = set()  # pod uids
        self.tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        async with aiohttp.ClientSession(self.url) as http:
            self.http = http
            while True:
                try:
                    async with http.get("/api/v1/pods", params={"watch": "true"},
                                        timeout=aiohttp.ClientTimeout(total=None)) as stream:
                        async for line in stream.content:
                            if line.strip():
                                await self.on_event(json.loads(line))
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    await asyncio.sleep(0.2)

    async def on_event(self, event: dict) -> None:
        pod = event["object"]
        meta = pod["metadata"]
        key = (meta.get("namespace"), meta["name"])
        if event["type"] == "DELETED":
            self.stop_process(key)
        elif event["type"] == "ADDED" and meta.get("uid") not in self.seen:
            self.seen.add(meta.get("uid"))
            await self.run_pod(key, pod)

    async def run_pod(self, key: tuple[str, str], pod: dict) -> None:
        address = next(self.addresses)
        (container, *_) = pod["spec"]["containers"]
        if self.servers is not None and (container.get("args") or [""])[0] == "jupyterhub-singleuser":
            process = self.start_server(key, pod, container, address)
            self.processes[key] = process
            task = asyncio.create_task(self.watch_process(key, process))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        await self.patch_status(key, {
            "phase": "Running", "podIP": address, "hostIP": "127.0.0.1", "startTime": _now(),
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": c["name"], "ready": True, "restartCount": 0, "image": c.get("image", ""),
                 "imageID": "", "state": {"running": {"startedAt": _now()}}}
                for c in pod["spec"]["containers"]],
        })

    def start_server(self, key, pod: dict, container: dict, address: str) -> subprocess.Popen:
        """The container's jupyterhub-singleuser, from the servers' Python, as the
        container's user (never root), listening on the pod's address."""
        # the container's, else the pod's, else nobody; a 0 is root, not "unset"
        uid = next((u for u in ((container.get("securityContext") or {}).get("runAsUser"),
                                (pod["spec"].get("securityContext") or {}).get("runAsUser")) if u is not None), NOBODY)
        if uid == 0:
            raise RuntimeError("the stand-in kubelet runs no container as root")
        gid = pwd.getpwuid(uid).pw_gid if _known_uid(uid) else uid
        home = Path(tempfile.mkdtemp(prefix=f"pod-{key[1]}-", dir=self.workdir))
        if os.geteuid() == 0:
            os.chown(home, uid, gid)
        env = {item["name"]: item.get("value", "") for item in container.get("env") or [] if "value" in item}
        # in a pod, 0.0.0.0 is the pod's own address; here every pod has a loopback one
        env["JUPYTERHUB_SERVICE_URL"] = env.get("JUPYTERHUB_SERVICE_URL", "").replace("0.0.0.0", address)
        env.update(HOME=str(home), USER="jovyan", PATH=f"{self.servers}/bin:/usr/bin:/bin", LANG="C.UTF-8")
        log = open(home.with_suffix(".log"), "wb")
        command = [str(self.servers / "bin" / "jupyterhub-singleuser"), *container["args"][1:], f"--ip={address}"]
        # as the container's user where the tests run as root (as CI does); else as themselves
        identity = dict(user=uid, group=gid, extra_groups=[]) if os.geteuid() == 0 else {}
        try:
            return subprocess.Popen(command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, **identity)
        finally:
            log.close()

    async def watch_process(self, key, process: subprocess.Popen) -> None:
        while process.poll() is None:
            await asyncio.sleep(0.2)
        if self.processes.get(key) is not process:
            return  # stopped because its pod was deleted: nothing left to report on
        del self.processes[key]
        code = process.returncode if process.returncode >= 0 else 128 - process.returncode
        await self.terminated(key, code)

    async def terminated(self, key, code: int) -> None:
        resp = await self.http.get(f"/api/v1/namespaces/{key[0]}/pods/{key[1]}")
        if resp.status != 200:
            return
        pod = await resp.json()
        await self.patch_status(key, {
            "phase": "Failed" if code else "Succeeded",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {**status, "ready": False,
                 "state": {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed",
                                          "finishedAt": _now()}}}
                for status in pod["status"].get("containerStatuses", [])],
        })

    async def patch_status(self, key, status: dict) -> None:
        resp = await self.http.patch(f"/api/v1/namespaces/{key[0]}/pods/{key[1]}/status",
                                     json={"status": status},
                                     headers={"Content-Type": "application/merge-patch+json"})
        resp.release()

    def stop_process(self, key) -> None:
        process = self.processes.pop(key, None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def kill(self, key) -> None:
        """The container dies (SIGKILL): watch_process reports it terminated."""
        process = self.processes.get(key)
        if process is None:
            asyncio.get_running_loop().create_task(self.terminated(key, 137))
        else:
            os.killpg(process.pid, signal.SIGKILL)

    def shutdown(self) -> None:
        for key in list(self.processes):
            self.stop_process(key)


def _known_uid(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


class StandInCluster:
    """The stand-in API and its kubelet in a thread of their own (a context manager)."""

    def __init__(self, *, namespace: str = "default", servers: Path | None = None):
        self.namespace, self.servers = namespace, servers
        self.workdir = Path(tempfile.mkdtemp(prefix="standin-"))
        os.chmod(self.workdir, 0o755)  # the pods' users enter their homes here
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kube-standin", daemon=True)
        self.url = ""

    def __enter__(self) -> "StandInCluster":
        self.thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc) -> None:
        self._call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self.api = StandInAPI()
        await self.api.__aenter__()
        self.server = kmock.Server(self.api)
        await self.server.__aenter__()
        self.url = str(self.server.url).rstrip("/")
        self.kubelet = Kubelet(self.url, self.servers, self.workdir)
        self.kubelet_task = asyncio.create_task(self.kubelet.run())

    async def _stop(self) -> None:
        self.kubelet_task.cancel()
        self.kubelet.shutdown()
        await self.server.__aexit__(None, None, None)
        await self.api.__aexit__(None, None, None)

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig naming the stand-in's API, as `kubectl config` would write one
        (kubernetes_asyncio and so KubeSpawner read it from $KUBECONFIG)."""
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "hub", "user": {"token": "stand-in-token"}}],
            "contexts": [{"name": "standin",
                          "context": {"cluster": "standin", "user": "hub", "namespace": self.namespace}}],
        }))
        return path

    # -- what a test asks, over the API (as kubectl would) ------------------------------

    def get(self, path: str) -> dict | None:
        """GET `path` of the API: the object, or None for a 404."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def pod(self, name: str) -> dict | None:
        return self.get(f"/api/v1/namespaces/{self.namespace}/pods/{name}")

    def pods(self) -> list[dict]:
        return self.get(f"/api/v1/namespaces/{self.namespace}/pods")["items"]

    def pvc(self, name: str) -> dict | None:
        return self.get(f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims/{name}")

    def pvcs(self) -> list[dict]:
        return self.get(f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims")["items"]

    def kill(self, name: str) -> None:
        """The pod's container dies; the kubelet reports it terminated (exit code 137)."""
        self.loop.call_soon_threadsafe(self.kubelet.kill, (self.namespace, name))

    def refuse_pods(self, label: str, value: str) -> None:
        """From now on, creating a pod labelled `label`=`value` is refused (403)."""
        self.loop.call_soon_threadsafe(self.api.refused_labels.__setitem__, label, value)

    def create(self, plural: str, body: dict) -> dict:
        """POST `body` to the namespace's `plural` (e.g. "persistentvolumeclaims"), as
        kubectl create would; the stored object."""
        request = urllib.request.Request(f"{self.url}/api/v1/namespaces/{self.namespace}/{plural}", method="POST",
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def delete(self, plural: str, name: str) -> None:
        """DELETE the namespace's object, as kubectl delete would (a 404 is no error)."""
        request = urllib.request.Request(f"{self.url}/api/v1/namespaces/{self.namespace}/{plural}/{name}",
                                         method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise

    def refuse_deletes(self, *names: str) -> None:
        """From now on, deleting an object of one of these names is refused (403)."""
        self.loop.call_soon_threadsafe(self.api.refused_deletes.update, names)

    def deletes(self) -> list[str]:
        """The names of the objects a DELETE was sent for so far."""
        async def copy():
            return list(self.api.deletes)
        return self._call(copy())

    def refused(self) -> list[dict]:
        """The pods refused so far, as they were sent."""
        async def copy():
            return json.loads(json.dumps(self.api.refused))
        return self._call(copy())

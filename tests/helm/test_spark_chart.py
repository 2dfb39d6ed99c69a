"""The chart's Spark on Kubernetes objects (templates/spark/): the drivers' and executors'
service accounts, the drivers' Role (what Spark's client-mode driver asks of the API and
nothing else), the NetworkPolicies on the spawner's fixed ports, the namespace's quota,
and the admission policy; strictly valid on Kubernetes 1.28 and 1.37 (the admission
policy, admissionregistration.k8s.io/v1, on 1.37: 1.28 does not serve it, and the chart
renders it only where the API server does). Its CEL is not evaluated here: no CEL
runtime is installed (the API server compiles it at install)."""

from __future__ import annotations

import helm_python as helm
import kubernetes_validate
import pytest

from spawner import spark_kube
from spawner.kube import BookingKubeSpawner

from .conftest import find, objects, render

pytestmark = pytest.mark.kubernetes


def test_the_drivers_role_manages_pods_and_lists_claims_and_nothing_else(rendered):
    role = find(rendered["ours"], "Role", "aglais-spark-driver")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"],
         "verbs": ["create", "get", "list", "watch", "delete", "deletecollection"]},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["list"]}]
    (subject,) = find(rendered["ours"], "RoleBinding", "aglais-spark-driver")["subjects"]
    assert subject == {"kind": "ServiceAccount", "name": "aglais-spark-driver", "namespace": "hub"}
    # no Role binds the executors' account; neither account's token is mounted unless a pod asks
    bound = {s["name"] for o in rendered["with_z2jh"] if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
             for s in o.get("subjects") or []}
    assert "aglais-spark-executor" not in bound
    for name in ("aglais-spark-driver", "aglais-spark-executor"):
        assert find(rendered["ours"], "ServiceAccount", name)["automountServiceAccountToken"] is False


def test_the_accounts_are_the_spawners_defaults():
    traits = BookingKubeSpawner.class_traits()
    assert traits["spark_service_account"].default_value == "aglais-spark-driver"
    assert traits["spark_executor_service_account"].default_value == "aglais-spark-executor"


def ports(rule: dict) -> list[tuple]:
    return [(p["port"], p.get("endPort"), p.get("protocol")) for p in rule["ports"]]


DRIVER_PORTS = (spark_kube.DRIVER_PORT, spark_kube.DRIVER_PORT + spark_kube.PORT_RETRIES, "TCP")
BLOCK_MANAGER = (spark_kube.BLOCK_MANAGER_PORT, None, "TCP")


def test_network_policies_name_the_spawners_ports(rendered):
    executors = {"matchLabels": {"spark-role": "executor"},
                 "matchExpressions": [{"key": "aglais.io/session", "operator": "Exists"}]}
    drivers = {"matchLabels": {spark_kube.DRIVER_LABEL: spark_kube.DRIVER_VALUE}}
    driver = find(rendered["ours"], "NetworkPolicy", "aglais-spark-driver")["spec"]
    assert driver["podSelector"] == drivers and driver["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = driver["ingress"]
    assert [p["podSelector"] for p in ingress["from"]] == [executors]
    # the driver's RPC and block manager (and a second kernel's, on the next ports)
    assert ports(ingress) == [DRIVER_PORTS]
    assert DRIVER_PORTS[0] <= spark_kube.BLOCK_MANAGER_PORT <= DRIVER_PORTS[1]
    to_executors, api_server = driver["egress"]
    assert [p["podSelector"] for p in to_executors["to"]] == [executors] and ports(to_executors) == [BLOCK_MANAGER]
    assert ports(api_server) == [(443, None, "TCP"), (6443, None, "TCP")] and "to" not in api_server

    executor = find(rendered["ours"], "NetworkPolicy", "aglais-spark-executor")["spec"]
    assert executor["podSelector"] == executors and executor["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = executor["ingress"]
    assert [p["podSelector"] for p in ingress["from"]] == [drivers, executors] and ports(ingress) == [BLOCK_MANAGER]
    to_drivers, to_peers, dns = executor["egress"]
    assert [p["podSelector"] for p in to_drivers["to"]] == [drivers] and ports(to_drivers) == [DRIVER_PORTS]
    assert [p["podSelector"] for p in to_peers["to"]] == [executors] and ports(to_peers) == [BLOCK_MANAGER]
    assert "to" not in dns and ports(dns) == [(53, None, "UDP"), (53, None, "TCP")]


def test_the_api_servers_address_and_the_executors_egress_are_values(charts):
    block = [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    store = {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}], "ports": [{"port": 443}]}
    out = objects(render(charts["ours"], {"spark": {"networkPolicy": {
        "apiServer": {"ports": [6443], "to": block}, "executorEgress": [store]}}}))
    _, api_server = find(out, "NetworkPolicy", "aglais-spark-driver")["spec"]["egress"]
    assert api_server == {"ports": [{"port": 6443, "protocol": "TCP"}], "to": block}
    assert find(out, "NetworkPolicy", "aglais-spark-executor")["spec"]["egress"][-1] == store


def test_the_namespaces_quota_and_largest_container_are_values(charts, rendered):
    assert find(rendered["ours"], "ResourceQuota", "aglais-spark")["spec"]["hard"] == {"pods": "200"}
    assert find(rendered["ours"], "LimitRange", "aglais-spark")["spec"]["limits"] == [
        {"type": "Container", "max": {"cpu": "8", "memory": "32Gi"}}]
    out = objects(render(charts["ours"], {"spark": {
        "resourceQuota": {"hard": {"pods": 50, "limits.cpu": "64", "limits.memory": "256Gi"}},
        "limitRange": {"enabled": False}}}))
    assert find(out, "ResourceQuota", "aglais-spark")["spec"]["hard"] == {
        "pods": "50", "limits.cpu": "64", "limits.memory": "256Gi"}
    assert not [o for o in out if o["kind"] == "LimitRange"]


def admission(charts, values=None) -> list[dict]:
    out = objects(render(charts["ours"], {"spark": {"admissionPolicy": {"assumeServed": True}}, **(values or {})}))
    return [o for o in out if o["kind"].startswith("ValidatingAdmissionPolicy")]


def test_the_admission_policy_binds_the_drivers_account_in_its_namespace(charts, rendered):
    assert not [o for o in rendered["ours"] if o["kind"].startswith("ValidatingAdmission")]  # not served offline
    found = admission(charts)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in found) == [
        ("ValidatingAdmissionPolicy", "hub-aglais-spark-driver-create"),
        ("ValidatingAdmissionPolicy", "hub-aglais-spark-driver-delete"),
        ("ValidatingAdmissionPolicyBinding", "hub-aglais-spark-driver-create"),
        ("ValidatingAdmissionPolicyBinding", "hub-aglais-spark-driver-delete")]
    for obj in found:
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
    policies = {o["metadata"]["name"]: o["spec"] for o in found if o["kind"] == "ValidatingAdmissionPolicy"}
    for name, spec in policies.items():
        assert spec["failurePolicy"] == "Fail"
        (rule,) = spec["matchConstraints"]["resourceRules"]
        assert rule["resources"] == ["pods"] and rule["operations"] == [name.rsplit("-", 1)[1].upper()]
        assert spec["matchConditions"] == [{"name": "by-a-spark-driver", "expression":
                                            "request.userInfo.username == 'system:serviceaccount:hub:aglais-spark-driver'"}]
    create = " ".join(v["expression"] for v in policies["hub-aglais-spark-driver-create"]["validations"])
    # the spawner's names: the executors' account, the driver's own Spark secret
    assert "'aglais-spark-executor'" in create and "'-spark-auth'" in create and "ownerReferences" in create
    assert spark_kube.secret_name("x") == "x-spark-auth"
    for binding in (o for o in found if o["kind"] == "ValidatingAdmissionPolicyBinding"):
        assert binding["spec"]["validationActions"] == ["Deny"]
        assert binding["spec"]["matchResources"]["namespaceSelector"] == {
            "matchLabels": {"kubernetes.io/metadata.name": "hub"}}
    assert admission(charts, {"spark": {"admissionPolicy": {"assumeServed": True, "enabled": False}}}) == []


def test_turning_spark_off_renders_none_of_it_and_needs_the_spawner_told(charts):
    with pytest.raises(helm.HelmRenderError, match="spark_executors: false"):
        render(charts["ours"], {"spark": {"enabled": False}})
    off = {"spark": {"enabled": False},
           "jupyterhub": {"hub": {"config": {"BookingKubeSpawner": {"spark_executors": False}}}}}
    out = objects(render(charts["ours"], off))
    assert not [o for o in out if "spark" in o["metadata"]["name"]]


def test_the_spawners_account_names_must_be_the_charts(charts):
    with pytest.raises(helm.HelmRenderError, match="spark_service_account"):
        render(charts["ours"], {"jupyterhub": {"hub": {"config": {"BookingKubeSpawner": {
            "spark_service_account": "someone-else"}}}}})

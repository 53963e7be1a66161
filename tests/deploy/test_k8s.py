"""deploy/k8s rendered per overlay by ``kubectl kustomize`` and checked as a cluster would see it:
every object against the Kubernetes 1.3x schemas (strict), the Prometheus Operator objects against
their CRDs, then the invariants a rolling, autoscaled deployment relies on. No cluster runs here:
these are static checks of exactly what ``kubectl apply`` would receive."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from server.config import VllmBackendConfig, parse_settings
from server.shutdown import DEFAULT_DELAY, DEFAULT_GRACE, DELAY_ENV, GRACE_ENV
from tests.deploy.k8s import (
    CLUSTER_SCOPED,
    CRD_KINDS,
    K8S,
    NAMESPACE,
    OVERLAYS,
    Obj,
    find,
    generated,
    ingress_allowed,
    k8s_versions,
    one,
    render,
    validate_builtin,
    validate_crd,
)
from tests.ops.tools import REPO, prometheus_binary

TOOLRELAY = {"app.kubernetes.io/name": "toolrelay"}
# Seconds a leaving vLLM pod must keep serving: CoreDNS caches answers up to 5 s (the kubernetes
# plugin's TTL), toolrelay re-resolves every `interval`, and requests picked just before need time.
DNS_CACHE = 5
MARGIN = 10


def _pod(deployment: Obj) -> Obj:
    spec: Obj = deployment["spec"]["template"]["spec"]
    return spec


def _container(deployment: Obj, name: str) -> Obj:
    (found,) = [c for c in _pod(deployment)["containers"] if c["name"] == name]
    return found


def _env(container: Obj) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", ()) if "value" in e}


def _vllm_deployments(objs: tuple[Obj, ...]) -> list[Obj]:
    found = [d for d in find(objs, "Deployment") if d["metadata"]["labels"].get("app.kubernetes.io/name") == "vllm"]
    assert found, "no vLLM Deployment"
    return found


def _port(container: Obj, ref: int | str) -> int:
    if isinstance(ref, int):
        return ref
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == ref]
    return int(port)


def _dockerfile_user(path: Path) -> int:
    (user,) = re.findall(r"^USER (\d+)", path.read_text(), flags=re.M)
    return int(user)


# ------------------------------------------------------------------ rendering and schemas


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_object_the_deployment_needs(overlay: str) -> None:
    objs = render(overlay)
    for kind, name in [
        ("Namespace", NAMESPACE),
        ("ServiceAccount", "toolrelay"),
        ("Deployment", "toolrelay"),
        ("Service", "toolrelay"),
        ("PodDisruptionBudget", "toolrelay"),
        ("HorizontalPodAutoscaler", "toolrelay"),
        ("ServiceMonitor", "toolrelay"),
        ("ServiceMonitor", "vllm"),
        ("PrometheusRule", "toolrelay"),
        ("NetworkPolicy", "default-deny"),
        ("ConfigMap", "toolrelay-grafana-dashboard"),
    ]:
        one(objs, kind, name)
    generated(objs, "ConfigMap", "toolrelay-config")
    generated(objs, "Secret", "toolrelay-keys")
    for deployment in _vllm_deployments(objs):
        one(objs, "Service", deployment["metadata"]["name"])  # each model: Deployment + headless Service
    for obj in objs:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']} {obj['metadata']['name']}"


@pytest.mark.parametrize("version", k8s_versions())
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_kubernetes(overlay: str, version: str) -> None:
    checked = 0
    for obj in render(overlay):
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            continue
        validate_builtin(obj, version)
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_operator_objects_match_their_crds(overlay: str) -> None:
    crds = [o for o in render(overlay) if (o["apiVersion"], o["kind"]) in CRD_KINDS]
    assert len(crds) == 3
    for obj in crds:
        validate_crd(obj)


def test_the_strict_checks_reject_a_misspelt_field() -> None:
    """Negative controls: the validations above can fail."""
    import kubernetes_validate

    deployment = json.loads(json.dumps(one(render("cpu"), "Deployment", "toolrelay")))
    _pod(deployment)["terminationGracePeriod"] = 75
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_builtin(deployment, k8s_versions()[0])
    monitor = json.loads(json.dumps(one(render("cpu"), "ServiceMonitor", "vllm")))
    monitor["spec"]["endpoints"][0]["intervall"] = "5s"
    with pytest.raises(AssertionError, match="intervall"):
        validate_crd(monitor)


# ------------------------------------------------------------------ toolrelay


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_toolrelay_pods_are_locked_down_and_sized(overlay: str) -> None:
    objs = render(overlay)
    deployment = one(objs, "Deployment", "toolrelay")
    for d in [deployment, *_vllm_deployments(objs)]:
        pod = _pod(d)
        name = d["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] >= 10000, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), f"{name}: {bound}"
    # The uid the image runs as (Dockerfile USER) is the one the pod declares.
    assert _pod(deployment)["securityContext"]["runAsUser"] == _dockerfile_user(REPO / "Dockerfile")
    if overlay == "cpu":
        (vllm,) = _vllm_deployments(objs)
        assert _pod(vllm)["securityContext"]["runAsUser"] == _dockerfile_user(REPO / "docker/vllm-cpu.Dockerfile")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_toolrelay_probes_health_and_ready(overlay: str) -> None:
    container = _container(one(render(overlay), "Deployment", "toolrelay"), "toolrelay")
    served = 8000
    assert container["args"][-2:] == ["--port", str(served)]
    for probe, path in [("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/ready")]:
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert _port(container, get["port"]) == served, probe


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_covers_toolrelays_drain(overlay: str) -> None:
    """The kubelet's SIGKILL must not come before toolrelay's own shutdown has run its course."""
    deployment = one(render(overlay), "Deployment", "toolrelay")
    env = _env(_container(deployment, "toolrelay"))
    delay = float(env.get(DELAY_ENV, DEFAULT_DELAY))
    grace = float(env.get(GRACE_ENV, DEFAULT_GRACE))
    assert delay >= 1, "no time for the endpoint change to spread before the listener closes"
    assert _pod(deployment)["terminationGracePeriodSeconds"] >= delay + grace + 5


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_spread_autoscale_and_survive_disruption(overlay: str) -> None:
    objs = render(overlay)
    deployment = one(objs, "Deployment", "toolrelay")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] >= 2
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1

    spread = {c["topologyKey"]: c for c in _pod(deployment)["topologySpreadConstraints"]}
    by_host = spread["kubernetes.io/hostname"]
    assert by_host["maxSkew"] == 1 and by_host["whenUnsatisfiable"] == "DoNotSchedule"
    assert by_host["labelSelector"]["matchLabels"].items() <= labels.items()

    hpa = one(objs, "HorizontalPodAutoscaler", "toolrelay")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "toolrelay"}
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    (cpu,) = [m["resource"] for m in hpa["metrics"] if m["type"] == "Resource"]
    assert cpu["name"] == "cpu" and 0 < cpu["target"]["averageUtilization"] <= 80

    pdb = one(objs, "PodDisruptionBudget", "toolrelay")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    # With the fewest replicas the autoscaler keeps, a voluntary disruption leaves one serving.
    assert pdb.get("minAvailable", 0) >= 1 or pdb["maxUnavailable"] < hpa["minReplicas"]

    service = one(objs, "Service", "toolrelay")["spec"]
    assert service["selector"].items() <= labels.items()
    container = _container(deployment, "toolrelay")
    assert {_port(container, p["targetPort"]) for p in service["ports"]} == {8000}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_and_keys_reach_the_pods(overlay: str) -> None:
    objs = render(overlay)
    deployment = one(objs, "Deployment", "toolrelay")
    container = _container(deployment, "toolrelay")
    config_map = generated(objs, "ConfigMap", "toolrelay-config")
    secret = generated(objs, "Secret", "toolrelay-keys")
    volumes = {v["name"]: v for v in _pod(deployment)["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/app/config"]
    source = volumes[mount["name"]]["configMap"]
    assert source["name"] == config_map["metadata"]["name"]
    path = _env(container)["TOOLRELAY_CONFIG"]
    (item,) = [i for i in source["items"] if f"/app/config/{i['path']}" == path]
    assert item["key"] in config_map["data"]
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == [secret["metadata"]["name"]]
    assert "TOOLRELAY_API_KEYS" in secret["data"]


# ------------------------------------------------------------------ vLLM and discovery


def _served_name(deployment: Obj) -> str:
    """vLLM's --served-model-name: from the container args, or the image's CMD (our CPU image)."""
    container = _container(deployment, "vllm")
    args: list[str] = container.get("args") or []
    if not args:
        assert container["image"].startswith("toolrelay-vllm-cpu"), "only our own image may rely on its CMD"
        text = (REPO / "docker/vllm-cpu.Dockerfile").read_text()
        (cmd,) = re.findall(r"^CMD (\[.*?\])\s*$", text.replace("\\\n", " "), flags=re.M)
        args = json.loads(cmd)
    flat = shlex.split(" ".join(a.replace("=", " ", 1) if a.startswith("--") else a for a in args))
    return flat[flat.index("--served-model-name") + 1]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_finds_each_models_vllm_through_its_headless_service(overlay: str) -> None:
    objs = render(overlay)
    data = yaml.safe_load(generated(objs, "ConfigMap", "toolrelay-config")["data"]["config.yaml"])
    keys = {k: "" for k in ("TOOLRELAY_API_KEYS", "OPENAI_API_KEY")}
    settings = parse_settings(data, env=keys)  # the config toolrelay will load, validated the same way
    served = {_served_name(d): d for d in _vllm_deployments(objs)}
    for model, cfg in settings.models.items():
        backend = settings.backends[cfg.backend]
        assert isinstance(backend, VllmBackendConfig), model
        assert backend.discover is not None and not backend.urls, f"{model}: replicas must come from DNS"
        deployment = served[cfg.model or model]  # a vLLM here serves the model id the config asks for
        service = one(objs, "Service", deployment["metadata"]["name"])
        assert service["spec"]["clusterIP"] == "None", "headless: DNS must list the pods, not one virtual IP"
        assert backend.discover.dns == f"{service['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        container = _container(deployment, "vllm")
        (port,) = service["spec"]["ports"]
        assert port["port"] == backend.discover.port
        assert _port(container, port["targetPort"]) == 8000

        # A vLLM pod going away keeps serving until toolrelay has seen it leave DNS.
        pod = _pod(deployment)
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pre_stop >= backend.discover.interval + DNS_CACHE + MARGIN
        assert pod["terminationGracePeriodSeconds"] > pre_stop
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/health", probe


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_toolrelay_reaches_vllm(overlay: str) -> None:
    objs = render(overlay)
    policies = find(objs, "NetworkPolicy")
    default_deny = one(objs, "NetworkPolicy", "default-deny")["spec"]
    assert default_deny["podSelector"] == {} and set(default_deny["policyTypes"]) == {"Ingress", "Egress"}
    toolrelay_pod = one(objs, "Deployment", "toolrelay")["spec"]["template"]["metadata"]["labels"]
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    for deployment in _vllm_deployments(objs):
        vllm = deployment["spec"]["template"]["metadata"]["labels"]
        assert ingress_allowed(policies, vllm, toolrelay_pod, NAMESPACE, 8000)
        assert not ingress_allowed(policies, vllm, {"app.kubernetes.io/name": "other"}, NAMESPACE, 8000)
        assert not ingress_allowed(policies, vllm, toolrelay_pod, "default", 8000)  # same labels, other namespace
        assert not ingress_allowed(policies, vllm, {}, "kube-system", 8000)
        assert not ingress_allowed(policies, vllm, toolrelay_pod, NAMESPACE, 22)
        # The one exception, in its own policy (vllm-metrics): Prometheus scrapes vLLM's /metrics.
        assert ingress_allowed(policies, vllm, prometheus, "monitoring", 8000)
        without_scrape = [p for p in policies if p["metadata"]["name"] != "vllm-metrics"]
        assert not ingress_allowed(without_scrape, vllm, prometheus, "monitoring", 8000)
    # Clients reach toolrelay (the policy allows its port from anywhere in the cluster).
    assert ingress_allowed(policies, toolrelay_pod, {"app": "client"}, "default", 8000)


# ------------------------------------------------------------------ monitoring


def test_prometheus_rule_holds_the_compose_alerts_and_promtool_accepts_it(tmp_path: Path) -> None:
    alerts = yaml.safe_load((REPO / "docker/prometheus-alerts.yml").read_text())
    rule = one(render("cpu"), "PrometheusRule", "toolrelay")
    assert rule["spec"] == alerts
    assert one(render("gpu"), "PrometheusRule", "toolrelay")["spec"] == alerts
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    proc = subprocess.run(
        [str(prometheus_binary("promtool")), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitors_scrape_both_jobs_the_alerts_name(overlay: str) -> None:
    objs = render(overlay)
    services = find(objs, "Service")
    alerts = (REPO / "docker/prometheus-alerts.yml").read_text()
    for name in ("toolrelay", "vllm"):
        spec = one(objs, "ServiceMonitor", name)["spec"]
        selected = [s for s in services if spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        assert selected, f"ServiceMonitor {name} selects no Service"
        for service in selected:
            # The job label comes from this Service label: job="toolrelay" / job="vllm".
            assert service["metadata"]["labels"][spec["jobLabel"]] == name
            assert {e["port"] for e in spec["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    assert 'job="toolrelay"' in alerts  # what ToolrelayDown watches


def test_dashboard_configmap_is_the_compose_dashboard() -> None:
    dashboard = (REPO / "docker/grafana/dashboards/toolrelay.json").read_text()
    for overlay in OVERLAYS:
        config_map = one(render(overlay), "ConfigMap", "toolrelay-grafana-dashboard")
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["data"] == {"toolrelay.json": dashboard}
    assert (K8S / "base/grafana/toolrelay.json").read_text() == dashboard


def test_placeholder_secrets_hold_no_value() -> None:
    """The committed generators' env files name the variables; values belong elsewhere."""
    for path in sorted(K8S.rglob("*.env")):
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                assert value == "", f"{path.relative_to(REPO)}: {name} has a value"

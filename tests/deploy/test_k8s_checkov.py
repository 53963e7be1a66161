"""checkov on every rendered overlay: no finding may be left unexplained. The accepted ones, each
with its reason, are in deploy/k8s/checkov-skips.yaml; this test fails on any other finding and on
any listed one checkov no longer reports (a stale skip hides nothing but misleads the reader).

checkov lives in its own venv (scripts/checkov_env.sh, also `make checkov`): it pins many packages
the project's own venv must not inherit. The script is idempotent; run here, it builds the venv
once when make did not."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.k8s import K8S, OVERLAYS, rendered_text
from tests.ops.tools import REPO


@functools.cache
def checkov() -> Path:
    proc = subprocess.run(
        ["bash", str(REPO / "scripts/checkov_env.sh")], capture_output=True, text=True, timeout=1200, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/checkov_env.sh could not install checkov:\n{proc.stderr[-3000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def findings(overlay: str, tmp: Path) -> tuple[set[tuple[str, str]], int]:
    """(check id, resource) of every failed check on the rendered overlay, and the passed count."""
    (tmp / f"{overlay}.yaml").write_text(rendered_text(overlay))
    # --skip-download: no calls out for guidelines (there is no network here, and none is needed).
    proc = subprocess.run(
        [str(checkov()), "-d", str(tmp), "--framework", "kubernetes", "-o", "json", "--quiet", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # Exit 1 means "some check failed"; anything else, or no JSON, is checkov itself failing.
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    results = report.get("results", {})  # an empty report (all passed, --quiet) may omit results
    failed = {(f["check_id"], f["resource"]) for f in results.get("failed_checks", ())}
    passed = report.get("summary", {}).get("passed", len(results.get("passed_checks", ())))
    return failed, int(passed)


def test_every_checkov_finding_is_an_explained_skip(tmp_path: Path) -> None:
    skips = yaml.safe_load((K8S / "checkov-skips.yaml").read_text())
    accepted = {(s["check"], r) for s in skips for r in s["resources"]}
    for skip in skips:
        assert len(skip["reason"]) > 80, f"{skip['check']}: say why"
    seen: set[tuple[str, str]] = set()
    for overlay in OVERLAYS:
        here = tmp_path / overlay
        here.mkdir()
        failed, passed = findings(overlay, here)
        assert passed > 100, f"{overlay}: checkov ran only {passed} checks: did it parse the manifests?"
        assert failed <= accepted, f"{overlay}: unexplained checkov findings: {sorted(failed - accepted)}"
        seen |= failed
    assert seen == accepted, f"skips checkov no longer reports: {sorted(accepted - seen)}"

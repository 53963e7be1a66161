"""The CPU image runs vLLM as an unprivileged user (docker/vllm-cpu.Dockerfile: built as root, run as
uid 10001), so the prepared model must be readable by a user that did not build it: every file, not
only the directory. No Docker engine runs here, so this runs the same vLLM as ``nobody``.

The venv and model live under the builder's home, which is private (0700) on most machines, as in
the image's build stage. A private mount namespace (``unshare -m``) puts a world-traversable tmpfs
over each private ancestor and binds the needed directories back: their files keep their own modes,
so a weights file only its owner may read still stops vLLM from starting.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from scripts import procs
from scripts.vllm_server import SERVER_ENV, ensure_model, server_argv, venv_python
from tests.servers import free_port

pytestmark = pytest.mark.vllm

NOBODY = 65534


@pytest.fixture(scope="module")
def model_dir() -> Path:
    if not venv_python().exists() and not os.environ.get("TOOLRELAY_REQUIRE_VLLM"):
        pytest.skip("no vLLM venv (build it: bash scripts/vllm_env.sh)")
    return ensure_model(venv_python())


def test_every_file_of_the_prepared_model_is_readable_by_others(model_dir: Path) -> None:
    entries = [model_dir, *model_dir.rglob("*")]
    assert any(p.name.endswith(".safetensors") for p in entries)
    for path in entries:
        mode = path.stat().st_mode
        wanted = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
        assert mode & wanted == wanted, f"{path} is {stat.filemode(mode)}"


def _private_ancestor(path: Path) -> Path | None:
    """The outermost directory above ``path`` that others cannot enter."""
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def _namespace_script(needed: list[Path], stage: Path, command: list[str]) -> str:
    lines = ["set -eu", "mount --make-rprivate /"]
    hidden: dict[Path, list[Path]] = {}
    for path in needed:
        top = _private_ancestor(path)
        if top is not None:
            hidden.setdefault(top, []).append(path)
    n = 0
    for top, paths in hidden.items():
        for path in paths:
            n += 1
            lines += [f"mkdir -p {stage}/{n}", f"mount --bind {shlex.quote(str(path))} {stage}/{n}"]
        lines.append(f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(top))}")
        for i, path in enumerate(paths, start=n - len(paths) + 1):
            lines += [f"mkdir -p {shlex.quote(str(path))}", f"mount --bind {stage}/{i} {shlex.quote(str(path))}"]
    lines.append("exec " + shlex.join(command))
    return "\n".join(lines)


@pytest.mark.timeout(1200)  # a second vLLM start beside the session's, on two cores: minutes
def test_vllm_serves_the_model_as_an_unprivileged_user(model_dir: Path, tmp_path: Path) -> None:
    python = venv_python()
    base = Path(
        subprocess.run(
            [str(python), "-c", "import sys; print(sys.base_prefix)"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    tmp_path.chmod(0o755)
    port = free_port()
    unprivileged = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "env",
        f"HOME={home}",
        f"TMPDIR={home}",
        *server_argv(python, model_dir, port),
    ]
    venv = python.parent.parent
    script = _namespace_script([base, venv, model_dir], tmp_path / "stage", unprivileged)
    log = tmp_path / "vllm.log"
    proc = procs.spawn(["unshare", "-m", "bash", "-c", script], env=SERVER_ENV, log=log)
    try:
        try:
            procs.wait_http(f"http://127.0.0.1:{port}/health", proc, 900, "vLLM as nobody")
        except (RuntimeError, TimeoutError) as err:
            pytest.fail(f"{err}\n{log.read_text(errors='replace')[-3000:]}")
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/completions",
            json={"model": "smol", "prompt": "<|im_start|>user\nHi<|im_end|>\n", "max_tokens": 4},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1
        # the server really runs as nobody
        uid = subprocess.run(["ps", "-o", "uid=", "-p", str(proc.pid)], capture_output=True, text=True).stdout
        assert uid.strip() == str(NOBODY)
    finally:
        procs.stop(proc)

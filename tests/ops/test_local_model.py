"""``make run MODEL=… [FAMILY=…]`` (scripts/local_model.py): what gets served, under which family."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters import REGISTRY
from adapters.auto_gate import LEXICAL_GATE, GateWeights
from scripts import local_model
from scripts.vllm_server import SERVED_NAME
from server.config import load_settings

CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
LLAMA3 = "<|start_header_id|>{{ role }}<|end_header_id|>\n\n{{ content }}<|eot_id|><|python_tag|>"


def hf_dir(root: Path, name: str, template: str | None, *, as_jinja: bool = False) -> Path:
    d = root / name
    d.mkdir()
    (d / "config.json").write_text("{}")
    if template is not None:
        if as_jinja:
            (d / "chat_template.jinja").write_text(template)
        else:
            (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    return d


def no_python() -> Path:
    raise AssertionError("a Hugging Face directory needs no conversion")


@pytest.mark.parametrize(
    ("template", "family", "options"),
    [
        (CHATML, "hermes", {}),
        (CHATML + "{% if tools %}<tool_call>{% endif %}<think>", "qwen3", {}),
        (LLAMA3 + "ipython", "llama3_json", {}),
        ("[AVAILABLE_TOOLS] {{ tools }} [INST] {{ content }} [/INST]", "mistral", {}),
        ("<｜tool▁calls▁begin｜>```json", "deepseek_v3", {"dialect": "v3"}),
        ("plain {{ content }}", None, {}),
    ],
)
def test_family_is_read_off_the_chat_template(
    tmp_path: Path, template: str, family: str | None, options: dict[str, str]
) -> None:
    d = hf_dir(tmp_path, "m", template)
    if family is None:
        with pytest.raises(SystemExit, match="FAMILY"):
            local_model.resolve(str(d), None, no_python)
        return
    chosen = local_model.resolve(str(d), None, no_python)
    assert (chosen.family, dict(chosen.options)) == (family, options)
    assert family in REGISTRY


def test_a_directory_is_served_as_is_with_the_guessed_family(tmp_path: Path) -> None:
    d = hf_dir(tmp_path, "Qwen2.5-0.5B-Instruct", CHATML, as_jinja=True)
    chosen = local_model.resolve(str(d), None, no_python)
    assert chosen == local_model.LocalModel("qwen2.5-0.5b-instruct", d, "hermes")
    # FAMILY= wins over the guess
    assert local_model.resolve(str(d), "qwen3", no_python).family == "qwen3"


def test_the_written_config_loads_and_routes_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = hf_dir(tmp_path, "Llama-3.2-1B-Instruct", LLAMA3)
    chosen = local_model.resolve(str(d), None, no_python)
    path = local_model.write_config(chosen, tmp_path / "cfg" / "run-model.yaml")
    monkeypatch.delenv("VLLM_URL", raising=False)
    settings = load_settings(path)
    model = settings.models["llama-3.2-1b-instruct"]
    assert (model.family, model.model, model.backend) == ("llama3_json", SERVED_NAME, "local")
    # options the template calls for go into the config, and the config loader accepts them
    d3 = hf_dir(tmp_path, "DeepSeek-V3", "<｜tool▁calls▁begin｜>```json")
    path3 = local_model.write_config(local_model.resolve(str(d3), None, no_python), tmp_path / "v3.yaml")
    assert load_settings(path3).models["deepseek-v3"].family_options == {"dialect": "v3"}


def test_a_gguf_is_converted_by_the_vllm_venv_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLRELAY_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "Tiny-Chat.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    ran: list[Sequence[str]] = []

    def fake_run(argv: Sequence[str]) -> str:
        ran.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        out.parent.mkdir(parents=True, exist_ok=True)
        hf_dir(out.parent, out.name, CHATML)
        return f"{out}\n"

    chosen = local_model.resolve(str(gguf), None, lambda: Path("/venv/bin/python"), fake_run)
    assert chosen.name == "tiny-chat.q4_k_m" and chosen.family == "hermes"
    (argv,) = ran
    assert argv[0] == "/venv/bin/python" and argv[1].endswith("scripts/prepare_model.py")
    assert argv[argv.index("--gguf") + 1] == str(gguf)
    assert chosen.model_dir == tmp_path / "cache" / "models" / "tiny-chat.q4_k_m-64"


@pytest.mark.parametrize("family", [None, "nonesuch"])
def test_unknown_family_or_path_stops_with_a_message(tmp_path: Path, family: str | None) -> None:
    d = hf_dir(tmp_path, "mystery", "plain {{ content }}")
    with pytest.raises(SystemExit, match="FAMILY"):
        local_model.resolve(str(d), family, no_python)
    with pytest.raises(SystemExit, match="not a Hugging Face model directory"):
        local_model.resolve(str(tmp_path / "missing"), "hermes", no_python)


def test_make_run_passes_model_and_family_and_nothing_without_them() -> None:
    def dry(*extra: str) -> str:
        # run from `make test`, a sub-make would print "Entering/Leaving directory" lines: no parent make here
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
        out = subprocess.run(
            ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", "run", *extra],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        return out.strip().splitlines()[-1]

    assert dry().split() == [".venv/bin/python", "-m", "scripts.run_local"]
    assert dry("MODEL=/m/x.gguf", "FAMILY=hermes").endswith('--model "/m/x.gguf" --family "hermes"')
    assert dry("MODEL=/m/x.gguf", "AUTO=gated").split()[-4:] == ["--model", '"/m/x.gguf"', "--auto", '"gated"']


def test_auto_gated_gives_the_lexical_gate_where_the_family_has_one(tmp_path: Path) -> None:
    d = hf_dir(tmp_path, "Base-270M", None)
    chosen = local_model.with_auto(local_model.resolve(str(d), "hermes", no_python), "gated")
    settings = load_settings(local_model.write_config(chosen, tmp_path / "run-model.yaml"))
    options = settings.models["base-270m"].family_options
    assert options["auto_policy"] == "gated"
    weights = GateWeights.from_options(options["auto_gate"])
    assert weights == LEXICAL_GATE and not weights.needs_marker  # no model request: nothing to calibrate
    # a family without an auto policy, or an unknown policy, stops with a message naming AUTO=
    with pytest.raises(SystemExit, match="AUTO=gated: not an option of the llama3_json family"):
        local_model.with_auto(local_model.resolve(str(d), "llama3_json", no_python), "gated")
    with pytest.raises(SystemExit, match="AUTO=sometimes"):
        local_model.with_auto(local_model.resolve(str(d), "hermes", no_python), "sometimes")

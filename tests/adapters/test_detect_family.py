"""``toolrelay detect-family``: the family named for each template the repository holds.

Two tables to extend: ``VENDORED`` (model makers' templates under ``tests/adapters/vendor``: add a
row when you vendor one) and ``SNIPPETS`` (the marker lines of templates not vendored here). Every
bundled template (``adapters/templates/<family>.jinja``) must be detected as its own family too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters import REGISTRY
from adapters.detect import DSV32_ENCODING, detect_family, detect_files, template_from_json
from server.cli import main

ROOT = Path(__file__).parents[2]
VENDOR = Path(__file__).parent / "vendor"
BUNDLED = sorted((ROOT / "adapters" / "templates").glob("*.jinja"))

# vendored template → (family, family_options)
VENDORED: dict[str, tuple[str, dict[str, Any]]] = {
    "moonshotai-Kimi-K2-Thinking.jinja": ("kimi_k2", {"thinking": True}),
    "moonshotai-Kimi-K2-Instruct-0905.jinja": ("kimi_k2", {}),
    "Qwen3-Coder.jinja": ("qwen3_coder", {}),
    "GLM-4.7.jinja": ("glm47", {}),
    "GLM-4.6.jinja": ("glm47", {"dialect": "4.6"}),
    "MiniMax-M2.jinja": ("minimax_m2", {}),
}

# the lines of real templates that carry their markers (not whole templates: these are not vendored)
SNIPPETS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "gpt-oss (harmony)": ("{{- '<|start|>assistant<|channel|>final<|message|>' }}", "gpt_oss", {}),
    "Llama 3.1 (python_tag)": (
        "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n<|python_tag|>' + tool_call.name }}",
        "llama3_json",
        {},
    ),
    "Llama 4 (python_start)": ("{{- '<|python_start|>' }}", "pythonic", {"style": "llama4"}),
    "DeepSeek V3 (fenced)": (
        "'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name']"
        " + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'",
        "deepseek_v3",
        {"dialect": "v3"},
    ),
    "DeepSeek V3.1": (
        "'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>'+ tool['function']['name'] + '<｜tool▁sep｜>'",
        "deepseek_v3",
        {},
    ),
    "GLM-4.5": ("<tool_call>{function-name}\n<arg_key>{arg-key-1}</arg_key>{{ tool | tojson }}", "glm45", {}),
    "Mistral v3": ("{{- '[AVAILABLE_TOOLS] [' }}{{- '[TOOL_CALLS] [' }}", "mistral", {}),
    "SmolLM2 (ChatML, no tools)": ("{{ '<|im_start|>' + message['role'] + '\\n' }}", "hermes", {}),
}


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_every_bundled_template_is_detected_as_its_family(path: Path) -> None:
    assert path.stem in REGISTRY
    found = detect_family(path.read_text(encoding="utf-8"))
    assert found is not None and found.family == path.stem


@pytest.mark.parametrize("name", sorted(VENDORED))
def test_vendored_templates(name: str) -> None:
    found = detect_family((VENDOR / name).read_text(encoding="utf-8"))
    assert found is not None
    assert (found.family, dict(found.options)) == VENDORED[name]


def test_every_vendored_template_is_in_the_table() -> None:
    assert sorted(p.name for p in VENDOR.glob("*.jinja")) == sorted(VENDORED)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_template_snippets(name: str) -> None:
    text, family, options = SNIPPETS[name]
    found = detect_family(text)
    assert found is not None and (found.family, dict(found.options)) == (family, options)
    for option in options:  # the options are ones the family takes
        type(REGISTRY[family])(**{option: options[option]})


def test_a_template_without_any_marker_is_not_guessed() -> None:
    assert detect_family("{% for m in messages %}{{ m.content }}{% endfor %}") is None


def test_tokenizer_config_forms() -> None:
    assert template_from_json(json.dumps({"chat_template": "T"})) == "T"
    named = [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "U"}]
    assert template_from_json(json.dumps({"chat_template": named})) == "U"
    assert template_from_json(json.dumps({"chat_template": named[:1]})) == "D"
    assert template_from_json(json.dumps({"bos_token": "<s>"})) is None
    assert template_from_json("not json") is None


def test_model_directory_files() -> None:
    kimi = (VENDOR / "moonshotai-Kimi-K2-Instruct-0905.jinja").read_text(encoding="utf-8")
    config = json.dumps({"chat_template": "<|im_start|>"})
    # a chat_template.jinja wins over the config's template, as in transformers
    found = detect_files({"tokenizer_config.json": config, "chat_template.jinja": kimi})
    assert found is not None and found.family == "kimi_k2"
    found = detect_files({"tokenizer_config.json": config})
    assert found is not None and found.family == "hermes"
    # DeepSeek V3.2 has no template, only its encoding script
    found = detect_files({"tokenizer_config.json": json.dumps({"bos_token": "x"}), DSV32_ENCODING: ""})
    assert found is not None and found.family == "deepseek_v32"
    assert detect_files({}) is None


# --------------------------------------------------------------------------- the command


def test_command_on_a_model_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = (VENDOR / "moonshotai-Kimi-K2-Thinking.jinja").read_text(encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}), encoding="utf-8")
    assert main(["detect-family", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "kimi_k2"
    assert out[-1] == '# family_options: {"thinking": true}'


def test_command_on_deepseek_v32s_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "encoding").mkdir()
    (tmp_path / DSV32_ENCODING).write_text("def encode_messages(): ...\n", encoding="utf-8")
    assert main(["detect-family", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("deepseek_v32\n")


def test_command_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.jinja"
    plain.write_text("{{ messages[0].content }}", encoding="utf-8")
    assert main(["detect-family", str(plain)]) == 1
    assert main(["detect-family", str(tmp_path / "missing")]) == 2
    assert "no family's markers" in capsys.readouterr().err


def test_start_path_still_reads_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "config error" in capsys.readouterr().err


def test_python_dash_m_server_detect_family() -> None:
    path = VENDOR / "Qwen3-Coder.jinja"
    done = subprocess.run(
        [sys.executable, "-m", "server", "detect-family", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "qwen3_coder"

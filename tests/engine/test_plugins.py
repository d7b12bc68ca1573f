"""Plugins from outside the repository: examples/plugin pip-installed for this test venv's Python.

The plugin adds the action ``example.greeting`` (with a Config) and the connection type
``greeting_studio`` through the ``flowmate.actions`` / ``flowmate.connections`` entry points.
Checks run in fresh interpreters (tests/engine/plugin_probe.py, the ``flowmate`` CLI), because
plugins are discovered once per process at start-up, as in production. The package is
installed with ``pip --target`` into a directory that only these tests' interpreters put on their
path (``PYTHONPATH``): tests running at the same time in other pytest-xdist workers share the venv
and must keep seeing only the built-ins (a duplicate-name plugin would stop their start-up).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugin"
PROBE = Path(__file__).with_name("plugin_probe.py")
FLOWMATE = Path(sys.executable).with_name("flowmate")


def _pip(*args: str) -> None:
    """Run pip with this venv's interpreter (installs always use ``--target``; see the module doc)."""
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _normalise(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text.lower())


@pytest.fixture(scope="module")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example plugin's install directory (what the probes put on their path)."""
    target = tmp_path_factory.mktemp("example-plugin")
    _pip("install", "--quiet", "--no-deps", "--target", str(target), str(EXAMPLE))
    yield target


def _env(tmp_path: Path, plugins: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWMATE_")}
    env.update({"FLOWMATE_DATABASE_URL": f"sqlite:///{tmp_path / 'plugin.db'}", "FLOWMATE_ENV": "test",
                "PYTHONPATH": str(plugins)})
    return env


def _probe(tmp_path: Path, plugins: Path, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=_env(tmp_path, plugins))
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_plugin_action_and_connection_type_are_registered(example_plugin: Path, tmp_path: Path) -> None:
    found = _probe(tmp_path, example_plugin, "registry")
    assert _normalise(found["package"]) == "flowmate-example-plugin"
    assert _normalise(found["connection_package"]) == "flowmate-example-plugin"
    assert found["connection_types"] == ["greeting_studio"] and found["side_effect"] is False
    assert found["config_fields"] == ["connection", "greeting", "name", "shout"]
    assert found["data_location"] == "au" and found["in_service_types"] is True


def test_actions_list_shows_the_plugin(example_plugin: Path, tmp_path: Path) -> None:
    done = subprocess.run([str(FLOWMATE), "actions", "list"], capture_output=True, text=True, timeout=120,
                          env=_env(tmp_path, example_plugin))
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("example.greeting"))
    assert line.split()[:3] == ["example.greeting", "Greeting", "card"]
    assert "greeting_studio" in line and " no " in line and "flowmate" in _normalise(line)
    assert done.stdout.splitlines()[0].split() == ["NAME", "TITLE", "CONNECTION", "SIDE", "EFFECT", "PACKAGE"]
    as_json = subprocess.run([str(FLOWMATE), "actions", "list", "--json"], capture_output=True, text=True,
                             timeout=120, env=_env(tmp_path, example_plugin))
    item = next(i for i in json.loads(as_json.stdout)["items"] if i["name"] == "example.greeting")
    assert item == {"name": "example.greeting", "title": "Greeting card", "connection_type": "greeting_studio",
                    "side_effect": False, "package": item["package"]}
    assert _normalise(item["package"]) == "flowmate-example-plugin"


def test_builder_offers_the_plugin_and_renders_its_form(example_plugin: Path, tmp_path: Path) -> None:
    found = _probe(tmp_path, example_plugin, "builder")
    assert found["in_picker"] and found["title"] == "Greeting card" and found["rendered"]
    assert found["fields"] == ["connection", "greeting", "name", "shout"]
    assert found["errors"] == {}
    assert found["definition_config"] == {"connection": "studio", "name": "Ana"}  # defaults stay implicit


def test_a_run_using_the_plugin_succeeds(example_plugin: Path, tmp_path: Path) -> None:
    found = _probe(tmp_path, example_plugin, "run", f"sqlite:///{tmp_path / 'plugin.db'}")
    assert found["outcome"] == "succeeded" and found["status"] == "succeeded"
    assert found["output"] == {"card": "G'DAY, ANA! — THE STUDIO", "length": 24}


def test_a_plugin_reusing_a_name_stops_start_up_naming_both_packages(tmp_path: Path) -> None:
    pkg = tmp_path / "dup"
    (pkg / "flowmate_dup_plugin").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "flowmate-dup-plugin"\nversion = "0.1.0"\n\n'
        '[project.entry-points."flowmate.actions"]\nlog = "flowmate_dup_plugin"\n')
    (pkg / "flowmate_dup_plugin" / "__init__.py").write_text(
        "from pydantic import BaseModel\n\nfrom engine.registry import action\n\n\n"
        "class Config(BaseModel):\n    message: str = ''\n\n\n"
        "@action('core.log', config=Config, title='My log', description='Shadows the built-in.')\n"
        "async def run(ctx, config):\n    return {}\n")
    target = tmp_path / "site"
    _pip("install", "--quiet", "--no-deps", "--target", str(target), str(pkg))
    done = subprocess.run([str(FLOWMATE), "actions", "list"], capture_output=True, text=True, timeout=120,
                          env=_env(tmp_path, target))
    assert done.returncode != 0
    message = json.loads(done.stderr.strip().splitlines()[-1])["error"]["message"]
    assert "'core.log'" in message and "flowmate and " in message
    assert "flowmate-dup-plugin" in _normalise(message)
    app = subprocess.run([sys.executable, "-c", "import flowmate_app.api.hooks"], capture_output=True,
                         text=True, timeout=120, env=_env(tmp_path, target), cwd=ROOT)
    assert app.returncode != 0 and "RegistryError" in app.stderr
    assert "flowmate-dup-plugin" in _normalise(app.stderr)

"""Nothing from a YAML file or a message is ever imported or evaluated.

A recurring.yml carrying PyYAML's Python tags fails to load (``safe_load`` knows none of them)
and runs nothing; and a scan of the package's syntax trees finds no ``eval``/``exec``, no
pickle, no unsafe YAML loader and no import by a computed name, outside one reviewed place.
"""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

import pytest
from celery import Celery

from activejob_celery import ConfigurationError, init_app
from activejob_celery.recurring import load_recurring
from activejob_celery.task import JobTask

PACKAGE = Path(__file__).resolve().parents[2] / "activejob_celery"

pytestmark = pytest.mark.reliability

HOSTILE_YAML = {
    "object/apply at the top": '!!python/object/apply:os.system ["touch {canary}"]\n',
    "object/apply in args": (
        "cleanup:\n  class: CleanupJob\n  schedule: every day at 2am\n"
        '  args: [!!python/object/apply:os.system ["touch {canary}"]]\n'
    ),
    "object/apply as the class": (
        'cleanup:\n  class: !!python/object/apply:os.system ["touch {canary}"]\n'
        "  schedule: every day at 2am\n"
    ),
    "object/new subprocess.Popen": (
        'cleanup: !!python/object/new:subprocess.Popen [["touch", "{canary}"]]\n'
    ),
    "name os.system": "cleanup:\n  class: !!python/name:os.system\n  schedule: every minute\n",
    "module antigravity": "cleanup: !!python/module:antigravity\n",
    "object/apply in an environment": (
        'production:\n  cleanup: !!python/object/apply:os.system ["touch {canary}"]\n'
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_YAML))
def test_python_tags_in_recurring_yml_fail_to_load_and_run_nothing(case, tmp_path):
    assert "antigravity" not in sys.modules
    canary = tmp_path / "ran"
    path = tmp_path / "recurring.yml"
    path.write_text(HOSTILE_YAML[case].format(canary=canary))
    with pytest.raises(ConfigurationError, match="is not valid YAML"):
        load_recurring(path, environment="production")
    assert not canary.exists()
    assert "antigravity" not in sys.modules


# Calls that turn data into code or objects: never made anywhere in the package. As a bare
# name these are the builtins; as an attribute, any owner (``re.compile`` is fine, so
# ``compile`` counts only bare or on ``builtins``).
CODE_CALLS = {"eval", "exec", "compile", "__import__", "symbol_by_name", "import_string",
              "run_path", "run_module", "spec_from_file_location", "load_module"}  # fmt: skip
UNSAFE_YAML = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all",
               "Loader", "UnsafeLoader", "FullLoader", "add_constructor"}  # fmt: skip
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
                  "jsonpickle", "runpy", "kombu.utils.imports", "celery.utils.imports"}  # fmt: skip
# The one reviewed import by name: the lazy ``integrations`` package imports its own
# submodules, named by constants, from its module ``__getattr__`` (PEP 562).
ALLOWED_IMPORT_MODULE = {"integrations/__init__.py": 2}


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        if func.attr == "compile" and owner != "builtins":
            return None  # re.compile and friends
        return func.attr
    return None


def _imports_own_submodule(call: ast.Call) -> bool:
    """``import_module(f"{__name__}.{name}")``: only a submodule of the calling package."""
    if len(call.args) != 1 or not isinstance(call.args[0], ast.JoinedStr):
        return False
    first = call.args[0].values[0]
    return (
        isinstance(first, ast.FormattedValue)
        and isinstance(first.value, ast.Name)
        and first.value.id == "__name__"
    )


def _scan() -> tuple[list[str], dict[str, int]]:
    found: list[tuple[str, int, str]] = []
    import_module_calls: dict[str, int] = {}
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50, f"scanned too little: {PACKAGE}"
    for path in files:
        where = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _called_name(node)
                if name in CODE_CALLS:
                    found.append((where, node.lineno, f"calls {name}()"))
                if name == "import_module":
                    if not _imports_own_submodule(node):
                        found.append((where, node.lineno, "import_module by a free name"))
                    import_module_calls[where] = import_module_calls.get(where, 0) + 1
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "yaml"
                and node.attr in UNSAFE_YAML
            ):
                found.append((where, node.lineno, f"yaml.{node.attr}"))
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [alias.name for alias in node.names]
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                    if node.module == "yaml":
                        modules += [f"yaml.{alias.name}" for alias in node.names]
                for module in modules:
                    top = module.split(".")[0]
                    unsafe = top in UNSAFE_MODULES or module in UNSAFE_MODULES
                    if unsafe or module.split(".")[-1] in UNSAFE_YAML:
                        found.append((where, node.lineno, f"imports {module}"))
    return [f"{where}:{line}: {what}" for where, line, what in sorted(found)], import_module_calls


def test_the_package_never_turns_data_into_code():
    problems, import_module_calls = _scan()
    assert problems == []
    assert import_module_calls == ALLOWED_IMPORT_MODULE


def test_the_scan_sees_what_it_forbids(tmp_path, monkeypatch):
    """The scanner itself: a file with each forbidden form is reported, line by line."""
    bad = tmp_path / "activejob_celery"
    bad.mkdir()
    for index in range(51):
        (bad / f"clean_{index}.py").write_text("import json\n")
    (bad / "bad.py").write_text(
        "import pickle\nimport yaml\nfrom yaml import FullLoader\n"
        "eval('1')\nexec('x = 1')\n__import__('os')\n"
        "import importlib\nimportlib.import_module(name)\nyaml.load(text)\n"
        "from kombu.utils.imports import symbol_by_name\nsymbol_by_name('os:system')\n"
        "import re\nre.compile('x')\nbuiltins.compile('1', 'f', 'eval')\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", bad)
    problems, calls = _scan()
    assert [problem.split(": ", 1)[1] for problem in problems] == [
        "imports pickle",
        "imports yaml.FullLoader",
        "calls eval()",
        "calls exec()",
        "calls __import__()",
        "import_module by a free name",
        "yaml.load",
        "imports kombu.utils.imports",
        "calls symbol_by_name()",
        "calls compile()",
    ]
    assert calls == {"bad.py": 1}


def test_job_tasks_accept_json_only_and_pickle_is_called_out(caplog):
    app = Celery("json_only", broker="memory://", set_as_current=False)
    init_app(app)
    assert JobTask.serializer == "json"
    assert list(app.conf.accept_content) == ["json"]

    risky = Celery("risky", broker="memory://", set_as_current=False)
    risky.conf.accept_content = ["json", "pickle"]
    with caplog.at_level(logging.WARNING, logger="activejob_celery"):
        init_app(risky)
    assert "accept_content includes pickle" in caplog.text

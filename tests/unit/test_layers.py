"""The import contract: layers, no import cycles, function-level imports only with a reason.

Built from the source with ``ast`` (no import runs): a module-level import (``TYPE_CHECKING``
blocks aside) is an edge; importing ``a.b.c`` also runs ``a.b``'s ``__init__``. Layer rules hold
for every import, function-level ones too. A function-level import needs a comment
``# import here: <reason>`` on the line above (an optional extra, or the cycle it breaks).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import activejob_celery

ROOT = Path(activejob_celery.__file__).parent
PACKAGE = "activejob_celery"

# (importer prefix, imported prefixes it must not reach): lower layers never reach up.
FOUNDATIONS = ("config", "errors", "hooks", "redis_clients", "runtime", "signals", "internals")
OPERATOR = ("cli", "web")
BACKEND = ("scheduler", "dead_letters", "recurring", "concurrency", "worker", "status", "running")
# Run helpers of the ActiveJob layer (perform, its timeout, async jobs) and the worker's
# Celery-side modules (queue order, warm shutdown, end-of-run writes).
RUN_HELPERS = ("perform_body", "timeouts", "async_run", "async_loops")
WORKER_SIDE = ("queue_order", "queue_weights", "worker_shutdown", "end_of_run")
RULES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    # The foundations import only each other.
    (FOUNDATIONS, ("app", "task", "base", "adapters", *BACKEND, *OPERATOR, "testing")),
    # Redis backend parts: never the operator surfaces, the test helpers or the app wiring.
    (BACKEND, (*OPERATOR, "testing", "contrib", "integrations", "app")),
    # The adapters (the test adapter among them) publish; the backend parts use them.
    (("adapters",), (*BACKEND, *OPERATOR, "testing", "app", "task")),
    # The test helpers sit on the ActiveJob layer and the adapters only.
    (("testing",), (*BACKEND, *OPERATOR, "app", "contrib", "integrations")),
    # Only the operator surfaces, contrib and the package root reach the app wiring.
    (("adapters", "base", "core", "execution", "task", "routing", "broker_queues"), ("app",)),
    # web/ serves pages; the CLI may start it, nothing else below imports either.
    (("web",), ("cli",)),
    # The run helpers sit under the adapters: no backend part, no Celery task, no app wiring.
    (RUN_HELPERS, (*BACKEND, *OPERATOR, "testing", "app", "adapters", "task", "continuation")),
    # Continuations (ActiveJob layer) read one backend part, the status store's cancel flag.
    (("continuation",), (*OPERATOR, "testing", "app", *(p for p in BACKEND if p != "status"))),
    # The worker-side modules wire Celery and kombu; they reach no backend part nor the app.
    (WORKER_SIDE, (*BACKEND, *OPERATOR, "testing", "app")),
]


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in ROOT.rglob("*.py")}


def _imports(
    tree: ast.Module, *, nested: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """(import, inside a function) pairs; ``TYPE_CHECKING`` blocks skipped."""

    def walk(
        node: ast.AST, in_function: bool
    ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, in_function
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if nested:
                    yield from walk(child, True)
            else:
                yield from walk(child, in_function)

    yield from walk(tree, False)


def _targets(name: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package's modules this import runs (and must have finished, for a name)."""
    is_package = MODULES[name].name == "__init__.py"
    found: list[tuple[str, bool]] = []
    if isinstance(node, ast.Import):
        found = [(alias.name, False) for alias in node.names]
    else:
        base = (name if is_package else name.rpartition(".")[0]).split(".")
        if node.level:
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        names = [f"{module}.{alias.name}" for alias in node.names]
        found = [(module, any(full not in MODULES for full in names))]
        found += [(full, False) for full in names if full in MODULES]
    edges = set()
    for target, whole in found:
        chain = target.split(".")
        for end in range(1, len(chain) + 1):
            ancestor = ".".join(chain[:end])
            if ancestor not in MODULES or ancestor == name:
                continue
            if name.startswith(ancestor + ".") and not (whole and ancestor == target):
                continue  # a package of the importer is already running
            edges.add(ancestor)
    return edges


def _graph(*, nested: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for node, _ in _imports(ast.parse(path.read_text()), nested=nested):
            graph[name] |= _targets(name, node)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    short = name.removeprefix(PACKAGE + ".")
    return any(short == prefix or short.startswith(prefix + ".") for prefix in prefixes)


def test_the_graph_sees_the_package() -> None:
    graph = _graph(nested=False)
    assert len(graph) > 100
    assert f"{PACKAGE}.runtime" in graph[f"{PACKAGE}.app"]
    assert f"{PACKAGE}.adapters.base" in graph[f"{PACKAGE}.adapters.testing"]
    # importing a name from a package needs its __init__ to have run
    assert f"{PACKAGE}.adapters" in graph[f"{PACKAGE}.base"]


def test_no_import_cycles() -> None:
    assert _cycles(_graph(nested=False)) == []


def test_a_cycle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers() -> None:
    graph = _graph(nested=True)
    broken = sorted(
        f"{name} imports {target}"
        for importers, forbidden in RULES
        for name, targets in graph.items()
        if _within(name, importers)
        for target in targets
        if _within(target, forbidden) and not _within(target, importers)
    )
    assert broken == []


def test_a_layer_break_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _graph(nested=True)
    graph[f"{PACKAGE}.scheduler.store"].add(f"{PACKAGE}.web.queues")
    monkeypatch.setattr(__import__(__name__, fromlist=["_graph"]), "_graph", lambda nested: graph)
    with pytest.raises(AssertionError):
        test_layers()


def test_function_level_imports_say_why() -> None:
    silent = []
    for path in MODULES.values():
        lines = path.read_text().splitlines()
        for node, in_function in _imports(ast.parse("\n".join(lines)), nested=True):
            if in_function and "# import here:" not in lines[node.lineno - 2]:
                silent.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert silent == []


@pytest.mark.parametrize(
    ("importer", "target"),
    [
        ("status.store", "web"),
        ("running.tracking", "cli"),
        ("timeouts", "scheduler"),
        ("continuation.stopping", "running"),
        ("queue_order", "concurrency"),
    ],
)
def test_the_newer_modules_have_their_layer(
    monkeypatch: pytest.MonkeyPatch, importer: str, target: str
) -> None:
    graph = _graph(nested=True)
    graph[f"{PACKAGE}.{importer}"].add(f"{PACKAGE}.{target}")
    monkeypatch.setattr(__import__(__name__, fromlist=["_graph"]), "_graph", lambda nested: graph)
    with pytest.raises(AssertionError):
        test_layers()


def test_every_layer_rule_names_modules_that_exist() -> None:
    named = {prefix for importers, forbidden in RULES for prefix in (*importers, *forbidden)}
    assert sorted(p for p in named if f"{PACKAGE}.{p}" not in MODULES) == []

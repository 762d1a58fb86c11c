"""The project's dependency rules, read from the source with the standard library's ``ast``.

1. Apps depend one way: ``streams`` <- ``funnel`` <- ``kaizen``. A lower app never imports a
   higher one, not even late (inside a function): ``streams`` imports neither ``funnel`` nor
   ``kaizen``, ``funnel`` does not import ``kaizen``. ``vsm_project`` wires things and may
   import all three.
2. No two modules of the project import each other, directly or round a longer circle. An
   import inside a function counts too: a late import only hides a circle. A service queues
   its app's tasks by name (``vsm_project.background.enqueue("funnel.tasks.x", ...)``), so
   it never imports the tasks module that imports it. Only an import under
   ``if TYPE_CHECKING:`` is left out, as it never runs.

Migrations and tests are left out. The checker itself is tested on small made-up module sets
below, so that a rule that can no longer fail is noticed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vsm_project", "streams", "funnel", "kaizen")
SKIPPED_DIRS = {"migrations", "tests", "__pycache__"}

#: Each app's rank: an app may import only apps of a lower or equal rank.
#: ``vsm_project`` is the wiring and ranks above every app.
RANK = {"streams": 0, "funnel": 1, "kaizen": 2, "vsm_project": 3}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    where: str  # "module" level, inside a "function", or "type"-only (never runs)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_sources(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """``{module name: source}`` of every module of ``packages`` below ``root``."""
    sources = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if SKIPPED_DIRS & set(path.relative_to(root).parts):
                continue
            sources[module_name(path, root)] = path.read_text(encoding="utf-8")
    return sources


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement with where it is (``Edge.where``)."""
    found: list[tuple[ast.Import | ast.ImportFrom, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, where))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, "type" if where == "type" else "function")
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), "type")
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), where)
            else:
                visit(child, where)

    visit(tree, "module")
    return found


def _project_module(name: str, modules: set[str]) -> str | None:
    """The longest prefix of dotted ``name`` that is a module of the project (``a.b.func`` ->
    ``a.b``), or None for a third-party or standard-library name."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_edges(sources: dict[str, str]) -> list[Edge]:
    """Every import of one project module by another, absolute or relative, early or late."""
    modules = set(sources)
    edges = []
    for source, text in sources.items():
        tree = ast.parse(text, filename=source)
        is_package = any(m.startswith(source + ".") for m in modules)
        package = source if is_package else source.rpartition(".")[0]
        for node, where in _imports(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                if node.level:
                    base_parts = package.split(".")
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                # ``from a import b`` imports the module ``a.b`` when there is one, else the
                # name ``b`` from ``a``.
                names = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
                names = names or [base]
            for name in names:
                target = _project_module(name, modules)
                if target is not None and target != source:
                    edges.append(Edge(source, target, node.lineno, where))
    return edges


def back_edges(edges: list[Edge]) -> list[str]:
    """An app importing a higher app, early or late, one line each."""
    problems = []
    for edge in edges:
        source_app, target_app = edge.source.split(".")[0], edge.target.split(".")[0]
        if RANK.get(target_app, -1) > RANK.get(source_app, len(RANK)) and target_app != (
            "vsm_project"
        ):
            problems.append(
                f"{edge.source} (line {edge.line}, {edge.where} level) imports {edge.target}: "
                f"{source_app} must not depend on {target_app} (streams <- funnel <- kaizen)"
            )
    return problems


def import_cycles(edges: list[Edge]) -> list[list[str]]:
    """The circles of imports that run (not type-only): each strongly connected group of two
    or more modules (or a module importing itself), sorted, found with Tarjan's algorithm."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set())
        graph.setdefault(edge.target, set())
        if edge.where != "type":
            graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(cycles)


def describe_cycle(group: list[str], edges: list[Edge]) -> str:
    """One circle's modules and the imports between them."""
    members = set(group)
    links = sorted(
        {
            f"  {e.source} -> {e.target} (line {e.line}, {e.where} level)"
            for e in edges
            if e.where != "type" and e.source in members and e.target in members
        }
    )
    return "circle of " + ", ".join(group) + ":\n" + "\n".join(links)


# --- The project's own modules -----------------------------------------------------------


@pytest.fixture(scope="module")
def project_edges() -> list[Edge]:
    sources = project_sources()
    assert {"streams.models", "funnel.models", "kaizen.models", "vsm_project.settings"} <= set(
        sources
    )
    assert not any(".migrations." in name for name in sources)
    return import_edges(sources)


def test_sees_the_projects_imports(project_edges: list[Edge]) -> None:
    """The scan finds imports it must find (a checker that sees nothing passes everything)."""
    pairs = {(e.source, e.target) for e in project_edges}
    assert ("funnel.models", "streams.models") in pairs
    assert ("kaizen.models", "funnel.models") in pairs or ("kaizen.models", "streams.models") in (
        pairs
    )
    assert len(project_edges) > 200


def test_no_lower_app_imports_a_higher_one(project_edges: list[Edge]) -> None:
    problems = back_edges(project_edges)
    assert not problems, "Back-edges between the apps:\n" + "\n".join(problems)


def test_no_modules_import_each_other_in_a_circle(project_edges: list[Edge]) -> None:
    cycles = import_cycles(project_edges)
    assert not cycles, (
        "Modules importing each other (a service queues its app's tasks by name, "
        "vsm_project.background.enqueue; a late import inside a function still counts):\n"
        + "\n".join(describe_cycle(group, project_edges) for group in cycles)
    )


# --- The checker, on made-up modules -------------------------------------------------------


def test_checker_finds_a_back_edge_early_or_late() -> None:
    edges = import_edges(
        {
            "streams": "",
            "streams.models": "",
            "funnel": "",
            "funnel.models": "from streams.models import Stream\n",
            "funnel.eventlog.services": "def f():\n    from kaizen.models import Cycle\n",
            "kaizen": "",
            "kaizen.models": "import funnel.models\n",
            "vsm_project.urls": "import kaizen.models\nimport funnel\n",
        }
    )
    problems = back_edges(edges)
    assert len(problems) == 1
    assert problems[0].startswith(
        "funnel.eventlog.services (line 2, function level) imports kaizen.models"
    )


def test_checker_finds_a_circle_through_relative_imports() -> None:
    edges = import_edges(
        {
            "funnel": "",
            "funnel.importing": "from .writing import write\n",
            "funnel.importing.writing": "from ..metrics import snapshots\n",
            "funnel.metrics": "",
            "funnel.metrics.snapshots": "from funnel import tasks\n",
            "funnel.tasks": "from funnel.importing import write\n",
            "funnel.other": "import funnel.tasks\n",
        }
    )
    assert import_cycles(edges) == [
        [
            "funnel.importing",
            "funnel.importing.writing",
            "funnel.metrics.snapshots",
            "funnel.tasks",
        ]
    ]
    assert "funnel.tasks -> funnel.importing (line 1, module level)" in describe_cycle(
        import_cycles(edges)[0], edges
    )


def test_checker_finds_two_modules_importing_each_other() -> None:
    edges = import_edges(
        {
            "kaizen.services": "from kaizen.tasks import check\n",
            "kaizen.tasks": "from kaizen import services\n",
        }
    )
    assert import_cycles(edges) == [["kaizen.services", "kaizen.tasks"]]


def test_checker_counts_a_late_import_in_a_circle() -> None:
    """The circle the issue found: a service importing its tasks inside a function."""
    edges = import_edges(
        {
            "kaizen.services": "def queue():\n    from kaizen.tasks import check\n",
            "kaizen.tasks": "from kaizen.services import queue\n",
        }
    )
    assert [e.where for e in edges] == ["function", "module"]
    assert import_cycles(edges) == [["kaizen.services", "kaizen.tasks"]]
    assert "kaizen.services -> kaizen.tasks (line 2, function level)" in describe_cycle(
        ["kaizen.services", "kaizen.tasks"], edges
    )


def test_checker_leaves_type_only_imports_out_of_circles() -> None:
    edges = import_edges(
        {
            "kaizen.services": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from kaizen.tasks import check\n"
                "def queue():\n    enqueue('kaizen.tasks.check')\n"
            ),
            "kaizen.tasks": "from kaizen.services import queue\n",
        }
    )
    assert [e.where for e in edges] == ["type", "module"]
    assert import_cycles(edges) == []


def test_checker_passes_a_clean_graph() -> None:
    edges = import_edges(
        {
            "streams.models": "import os\nfrom django.db import models\n",
            "funnel.models": "from streams.models import Stream\nfrom streams import models\n",
            "kaizen.models": "from funnel.models import Deal\nimport streams.models\n",
            "vsm_project.settings": "from kaizen.models import Cycle\n",
        }
    )
    assert len(edges) == 5
    assert back_edges(edges) == []
    assert import_cycles(edges) == []


#: Issue 13: no file of ours over this many lines (migrations, tests and vendored files aside).
MAX_LINES = 800
OUR_FILES = ("*.py", "*.html", "*.js", "*.css")
OUR_FOLDERS = ("vsm_project", "streams", "funnel", "kaizen", "templates", "static", "bench")


def _our_files() -> list[Path]:
    found = []
    for folder, pattern in product(OUR_FOLDERS, OUR_FILES):
        for path in (ROOT / folder).rglob(pattern):
            parts = set(path.relative_to(ROOT).parts)
            if parts & {"migrations", "vendor"}:
                continue
            found.append(path)
    return found


def test_no_file_of_ours_is_over_800_lines() -> None:
    files = _our_files()
    assert any(p.name == "engine.py" for p in files)  # the walk sees the project
    long = {
        str(p.relative_to(ROOT)): n
        for p in files
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}

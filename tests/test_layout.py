"""The house rules of the tree (issue 17), read from the source: phases, import directions, sizes.

Every check walks the AST of the imports, so a lazy import inside a function counts as an edge
too (except the CLI's sanctioned lazy import of the benchmarks, and imports under TYPE_CHECKING).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("pipeline", "agents", "schemas")
SOURCES = (*PRODUCT, "bench")
MAX_ROOT_MODULES = 8
MAX_LINES = 500
# Libraries of the model build and of plotting: a worker that imports them pays seconds and
# hundreds of MB for nothing (onnxruntime is the serving runtime and allowed; the onnx package is not).
TRAINING_OR_PLOTTING = ("torch", "transformers", "onnx", "matplotlib")


def _modules(*roots: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str) -> Iterator[tuple[str, bool, int]]:
    """(imported dotted name, imported at module level, line) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, top: bool) -> Iterator[tuple[str, bool, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, top, child.lineno
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    yield f"{base}.{alias.name}", top, child.lineno
            else:
                inner = top and not isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
                )
                yield from visit(child, inner)

    yield from visit(tree, True)


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The file a dotted import lands in: ``a.b.c`` is module ``a.b.c``, or name ``c`` of ``a.b``."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _graph(roots: tuple[str, ...]) -> dict[str, set[str]]:
    known = _modules(*roots)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for imported, _top, _line in _imports(path, name):
            target = _resolve(imported, known)
            if target is not None and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one file (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_pipeline_root_holds_only_entry_point_settings_and_errors() -> None:
    root = sorted(p.name for p in (REPO / "pipeline").glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, f"pipeline/ root has {len(root)} modules: {root}"


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for path in _modules(*SOURCES).values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_no_import_cycles_between_files() -> None:
    graph = _graph(SOURCES)
    assert len(graph) > 50  # the walk found the tree
    assert not _cycles(graph), f"import cycles: {_cycles(graph)}"


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_test_module_imports_another_test_module() -> None:
    offenders = []
    for name, path in _modules("tests").items():
        for imported, _top, line in _imports(path, name):
            if any(part.startswith("test_") for part in imported.split(".")):
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    assert not offenders, "share helpers through conftest.py or a helper module: " + "; ".join(offenders)


def test_worker_imports_no_training_or_plotting_library() -> None:
    # A fresh interpreter: this test process has imported everything the other tests needed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    listing = subprocess.run(
        [sys.executable, "-c", "import sys, agents.worker; print('\\n'.join(sorted(sys.modules)))"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert {"agents.worker", "faust", "pipeline.hotpath.lane"} <= set(listing)  # the real closure
    heavy = sorted({m for m in listing if m.split(".")[0] in TRAINING_OR_PLOTTING})
    assert not heavy, f"the worker's import closure holds {heavy}"
    ours = sorted(m for m in listing if m.startswith(("pipeline.tooling", "pipeline.modelbuild", "bench")))
    assert not ours, f"the worker imports tooling, the model build or the benchmarks: {ours}"


def test_pipeline_never_imports_agents_or_faust_at_module_level() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {imported}"
        for name, path in _modules("pipeline").items()
        for imported, top, line in _imports(path, name)
        if top and imported.split(".")[0] in ("agents", "faust")
    ]
    assert not offenders, offenders


def test_the_product_never_imports_the_benchmarks() -> None:
    offenders = []
    for name, path in _modules(*PRODUCT).items():
        for imported, top, line in _imports(path, name):
            # `streamguard bench` may import it inside its command, from a checkout.
            sanctioned = name == "pipeline.cli" and not top
            if imported.split(".")[0] == "bench" and not sanctioned:
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    assert not offenders, offenders


def test_schemas_depend_on_nothing_of_ours() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {imported}"
        for name, path in _modules("schemas").items()
        for imported, _top, line in _imports(path, name)
        if imported.split(".")[0] in ("pipeline", "agents", "bench")
    ]
    assert not offenders, offenders


def test_serving_imports_neither_the_build_nor_tooling() -> None:
    serving = (
        "pipeline.ingest",
        "pipeline.features",
        "pipeline.hotpath",
        "pipeline.records",
        "pipeline.kafka",
        "pipeline.observability",
        "agents",
    )
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {imported}"
        for name, path in _modules("pipeline", "agents").items()
        if name.startswith(serving)
        for imported, _top, line in _imports(path, name)
        if imported.startswith(("pipeline.modelbuild", "pipeline.tooling", "bench"))
    ]
    assert not offenders, offenders

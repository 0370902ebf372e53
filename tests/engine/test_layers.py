"""The package's import graph is layered and acyclic.

Every `import` in scanner/ and db/ counts, also those under `if TYPE_CHECKING:` and inside
functions: a type-only or lazy import still ties the two modules together for a reader and
for every refactoring. Layers, lowest first, are declared in `LAYERS`; a module may import
its own layer or lower ones. To add a layer (e.g. `camaudit.audit` between the engine and the
CLI) add one row.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT_NAMES = {"scanner": "camaudit", "db": "camaudit.db"}  # repository folder -> installed name

# (module prefix, rank); the longest matching prefix decides. Modules no row names are
# "shared" (rank 0): they may import only other rank-0 modules.
LAYERS: tuple[tuple[str, int], ...] = (
    ("camaudit.model", 0),
    ("camaudit.observation", 0),
    ("camaudit.probes", 1),
    ("camaudit.discovery", 1),
    ("camaudit.imports", 0),
    ("camaudit.scan_context", 2),
    ("camaudit.datagram", 2),
    ("camaudit.passive", 2),   # decoders reuse the probes' parsers
    ("camaudit.sweep_ports", 2),
    ("camaudit.engine", 3),
    ("camaudit.identify", 3),
    ("camaudit.lab", 3),
    ("camaudit.report", 3),
    ("camaudit.doctor", 3),
    ("camaudit.config", 3),
    ("camaudit.match_stream", 3),
    ("camaudit.audit", 4),
    ("camaudit.demo", 4),
    ("camaudit.db", 3),
    ("camaudit.cli", 9),
    ("camaudit.__main__", 10),
)
CLI = "camaudit.cli"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([IMPORT_NAMES[parts[0]], *parts[1:]])


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module of the project that `path` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` depends on pkg.sub; on pkg itself only for names defined there
            subs = [f"{base}.{alias.name}" for alias in node.names]
            candidates = subs + ([base] if any(sub not in known for sub in subs) else [])
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for pkg in IMPORT_NAMES for p in (ROOT / pkg).rglob("*.py")}
    known = set(files)
    return {name: imports_of(path, name, known) for name, path in files.items()}


def layer_row(module: str) -> tuple[str, int]:
    """The LAYERS row that owns `module` (longest prefix), or the module itself at rank 0."""
    rows = [(prefix, layer) for prefix, layer in LAYERS
            if module == prefix or module.startswith(prefix + ".")]
    return max(rows, key=lambda row: len(row[0]), default=(module, 0))


def rank(module: str) -> int:
    return layer_row(module)[1]


def component_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between LAYERS rows (e.g. all of camaudit.probes as one node), self-loops left out.

    The engine loads probe modules by name (importlib), which no `import` shows; collapsed to
    packages, a probe module that imports the engine still closes a cycle.
    """
    out: dict[str, set[str]] = {}
    for src, dsts in graph.items():
        node = layer_row(src)[0]
        out.setdefault(node, set()).update(layer_row(d)[0] for d in dsts if layer_row(d)[0] != node)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first == last), or None; iterative DFS with colours."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycle_between_packages() -> None:
    cycle = find_cycle(component_graph(import_graph()))
    assert cycle is None, "import cycle between layers: " + " -> ".join(cycle or [])


def test_no_upward_import() -> None:
    wrong = sorted(f"{src} (layer {rank(src)}) imports {dst} (layer {rank(dst)})"
                   for src, dsts in import_graph().items() for dst in dsts if rank(dst) > rank(src))
    assert not wrong, "\n".join(wrong)


def test_only_cli_imports_cli() -> None:
    wrong = sorted(f"{src} imports {dst}" for src, dsts in import_graph().items() for dst in dsts
                   if dst.startswith(CLI) and not (src.startswith(CLI) or src == "camaudit.__main__"))
    assert not wrong, "\n".join(wrong)


def test_checker_sees_a_cycle_and_an_upward_import() -> None:
    """The checks above can fail: a two-module cycle is found, a probe importing the engine ranks upward."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert rank("camaudit.probes.http") < rank("camaudit.engine") < rank("camaudit.cli.scan")
    assert rank("camaudit.probes.base") > rank("camaudit.model")

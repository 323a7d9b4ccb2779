"""The package layout holds: small modules, no import cycles, no hidden local imports, no IPython below notebook/.

These read the source (AST), so they cannot be fooled by import order at run time.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parent.parent / "motia_nb"
MAX_LINES = 450  # "about 400"
#: third-party modules that may be imported lazily inside a function (heavy or optional)
LAZY_OK = {"pandas", "ipywidgets", "IPython", "matplotlib", "redis", "tqdm", "websockets", "motia", "iii", "pytest",
           "nbformat", "nbclient", "jupyter_client", "numpy", "pydantic", "aiosqlite"}


def modules() -> dict[str, pathlib.Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else []))
    names = [base]
    names += [f"{base}.{a.name}" for a in node.names]
    return names


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def top_level_imports(mod: str, path: pathlib.Path) -> set[str]:
    """motia_nb modules imported at module level (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    mods = modules()
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                found.update(n for n in _resolve(mod, is_pkg, node) if n in mods)

    visit(tree.body)
    found.discard(mod)
    return found


def test_no_module_is_over_about_400_lines():
    big = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_no_import_cycles():
    mods = modules()
    graph = {m: top_level_imports(m, p) for m, p in mods.items()}
    # a package's __init__ importing its own submodules is not a cycle
    for m in graph:
        graph[m] = {d for d in graph[m] if not (d.startswith(m + ".") and mods[m].name == "__init__.py")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                dfs(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


#: (module, imported module) pairs allowed inside a function, with the reason
LAZY_INTERNAL = {
    ("motia_nb.state.backends", "motia_nb.state.backends.redis"): "redis-py loads only for a redis:// URL",
}


def test_no_function_local_imports_of_motia_nb_modules():
    """A local import of our own code is how a cycle hides; heavy third-party libs may load lazily."""
    offenders = []
    for mod, path in modules().items():
        if mod == "motia_nb":
            continue  # the package root loads the IPython layer (notebook/) only when asked: %load_ext, viewer
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("motia_nb")):
                    target = _resolve(mod, path.name == "__init__.py", node)[0]
                    if (mod, target) not in LAZY_INTERNAL:
                        offenders.append(f"{mod}:{node.lineno}")
                elif isinstance(node, ast.Import) and any(a.name.startswith("motia_nb") for a in node.names):
                    offenders.append(f"{mod}:{node.lineno}")
    assert not offenders, f"function-local imports of motia_nb modules: {offenders}"


@pytest.mark.parametrize("layer", ["motia_nb.state", "motia_nb.steps", "motia_nb.engine"])
def test_core_layers_import_no_ipython_or_widgets(layer):
    for mod, path in modules().items():
        if mod != layer and not mod.startswith(layer + "."):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            bad = [n for n in names if n.split(".")[0] in ("IPython", "ipywidgets", "ipykernel")]
            assert not bad, f"{mod}:{node.lineno} imports {bad}"

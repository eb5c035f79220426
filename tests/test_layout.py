"""The package's layout, read from its imports: layers that import only downwards, no circles,
no library module importing a command-line tool, and gradio only in the UI."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ddpm"

# Lowest first; a module may import modules of its own layer or below (README: "Where things are").
LAYERS = [
    {"choices"},
    {"schedules", "losses", "images"},
    {"diffusion", "data"},
    {"sampling", "likelihood", "unet", "toy"},
    {"checkpoint", "guidance", "inference", "classifier"},
    {"teaching"},
    {"views"},
    {
        "train",
        "train_classifier",
        "sample",
        "evaluate",
        "bench",
        "bench_app",
        "bench_load",
        "bench_http",
        "bench_server",
    },
]
COMMAND_LINE = LAYERS[-1]
UI = {"views", "bench_app"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            # `from . import checkpoint` imports a module, not a name
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def top(name: str) -> str:
    """The layer key of a module: its first name below ``ddpm`` (``ddpm.teaching.reverse`` -> teaching)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer(name: str) -> int:
    return next(i for i, members in enumerate(LAYERS) if top(name) in members)


def test_every_module_has_a_layer():
    for name in graph():
        if top(name) != "__init__":
            layer(name)


def test_modules_import_only_their_own_layer_or_lower():
    wrong = [
        f"{a} -> {b}"
        for a, targets in graph().items()
        if top(a) != "__init__"
        for b in targets
        if top(b) != "__init__" and layer(b) > layer(a)
    ]
    assert not wrong, wrong


def test_no_import_circles():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])


def test_no_library_module_imports_a_command_line_tool():
    wrong = [
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if top(b) in COMMAND_LINE and top(a) not in COMMAND_LINE
    ]
    assert not wrong, wrong


def test_only_the_ui_imports_gradio():
    users = {
        module_name(p) for p in PACKAGE.rglob("*.py") if any(m.split(".")[0] == "gradio" for m in imports(p))
    }
    assert users and all(top(name) in UI for name in users), users

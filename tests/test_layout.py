"""The package's layout, read from its imports: layers that import only downwards, no circles,
no library module importing a command-line tool, gradio only in the serving layer, the views and
the app's benchmark, and inside the views a kit below the tabs that knows no lesson (no teaching/,
toy or unet), and tabs that import no torch."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ddpm"

# Lowest first; a module may import modules of its own layer or below. docs/library.md ("Where things
# are") numbers the same layers with the same members (test_the_docs_list_these_layers).
LAYERS = [
    {"choices", "seeding"},
    {"schedules", "losses", "images"},
    {"diffusion", "data"},
    {"sampling", "likelihood", "distillation", "unet", "toy", "true_reverse"},
    {"checkpoint", "guidance", "inference", "classifier", "metrics", "onnx_export", "training"},
    {"teaching"},
    {"serve"},
    {"views"},
    {"space"},  # the app as a Hugging Face Space: its files, the upload
    {"train", "train_classifier", "train_toy", "sample", "evaluate", "deploy", "bench"},
]
COMMAND_LINE = LAYERS[-1]
UI = {"serve", "views", "bench"}


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    """Absolute names of the modules ``path`` (a file under ``root``) imports (relative imports resolved)."""
    package = module_name(path, root).split(".")
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


def test_the_views_tabs_import_no_torch():
    """A tab lays out and wires; its numbers come from ddpm (tensors only pass through it)."""
    tabs = [n for n in graph() if n.startswith("ddpm.views") and not n.startswith("ddpm.views.kit")]
    assert "ddpm.views.reverse" in tabs and "ddpm.views.lessons.many_pasts" in tabs
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    wrong = [name for name in tabs if any(m.split(".")[0] == "torch" for m in imports(files[name]))]
    assert not wrong, wrong


def test_the_ui_kit_imports_no_tab_and_the_serving_layer_no_view():
    def kit(name: str) -> bool:
        return name.startswith("ddpm.views.kit")

    wrong = [
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if (kit(a) and b.startswith("ddpm.views.") and not kit(b))
        or (a.startswith("ddpm.serve") and b.startswith("ddpm.views"))
    ]
    assert not wrong, wrong


def test_the_kit_imports_no_teaching_nor_toy_nor_unet():
    """The kit holds only what every tab may use: a player or a piece that needs a lesson's numbers,
    the 2-D world or the network lives beside the tab that uses it."""
    kit = {name: targets for name, targets in graph().items() if name.startswith("ddpm.views.kit")}
    assert "ddpm.views.kit.players" in kit and "ddpm.views.kit.inpage" in kit
    wrong = [
        f"{a} -> {b}" for a, targets in kit.items() for b in targets if top(b) in {"teaching", "toy", "unet"}
    ]
    assert not wrong, wrong


def documented_layers() -> list[set[str]]:
    """The numbered layers of docs/library.md's "Where things are": each item's backquoted files
    and folders of the package, as module names (``toy/`` → toy, ``sample.py`` → sample)."""
    text = (PACKAGE.parent / "docs" / "library.md").read_text()
    section = text.split("## Where things are", 1)[1].split("```", 1)[0]
    items = re.split(r"\n(?=\d+\. \*\*)", "\n" + section)[1:]
    layers = []
    for item in items:
        names = re.findall(r"`([\w/.]+)`", item.split(":", 1)[1])
        members = [n for n in names if "/" not in n.rstrip("/") and (PACKAGE / n).exists()]
        layers.append({n.rstrip("/").removesuffix(".py") for n in members})
    return layers


def test_the_docs_list_these_layers():
    """One list of layers: the docs' numbered list names exactly the modules of each layer here
    (a file the docs mention inside a layer's folder, such as views/page.py, or outside the package,
    such as app.py, is not a layer member)."""
    assert documented_layers() == LAYERS

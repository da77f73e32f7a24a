"""The shape of the code, read from the source files: imports run one way (wavespeed_api <- team <- variations
<- sharing <- fluxsite) without cycles, no module grows past 400 lines, and no test fixture is defined twice."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Lower layers never import higher ones; wavespeed_api is plain Python beneath them all.
LAYERS = ["wavespeed_api", "team", "variations", "sharing", "fluxsite"]
DJANGO_PACKAGES = {"django", "django_q", "ninja"}
MAX_LINES = 400


def module_files():
    """{dotted module name: path} of every module of the five packages but their migrations."""
    modules = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = module_files()


def imported_names(name, path):
    """Every absolute name `name` imports, at module level or inside functions alike."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import sub` imports the module pkg.sub when there is one
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def project_module(imported):
    """The project module an imported name lives in (its longest known prefix), or None."""
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in MODULES:
            return ".".join(parts[:end])
    return None


IMPORTS = {name: sorted(set(imported_names(name, path))) for name, path in MODULES.items()}
GRAPH = {name: {project_module(i) for i in imported if project_module(i) not in (None, name)} for name, imported in IMPORTS.items()}


def cycles(graph):
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while not group or member != node:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_every_part_and_its_imports():
    assert {"team.models", "variations.dispatcher.loop", "sharing.views", "fluxsite.urls", "wavespeed_api.client"} <= set(MODULES)
    assert "team.models" in GRAPH["variations.models"]
    assert "variations.dispatcher.loop" in GRAPH["variations.dispatcher"]  # `from .loop import ...` resolved
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_between_modules():
    assert cycles(GRAPH) == []


def test_imports_run_one_way_team_variations_sharing_fluxsite():
    against = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if LAYERS.index(target.split(".")[0]) > LAYERS.index(name.split(".")[0])
    ]
    assert against == []


def test_wavespeed_api_is_plain_python_without_django():
    django = [
        f"{name} imports {imported}"
        for name, imported_list in IMPORTS.items()
        if name.split(".")[0] == "wavespeed_api"
        for imported in imported_list
        if imported.split(".")[0] in DJANGO_PACKAGES
    ]
    assert django == []


def test_no_module_is_over_400_lines():
    lengths = {str(path.relative_to(ROOT)): path.read_text().count("\n") for path in MODULES.values()}
    assert {module: lines for module, lines in lengths.items() if lines > MAX_LINES} == {}


# --- test fixtures -------------------------------------------------------------------------------------------


def fixture_name(function):
    """The fixture name a function defines, or None if it is no fixture."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        if ast.unparse(target) in ("pytest.fixture", "fixture"):
            named = [keyword.value.value for keyword in (call.keywords if call else []) if keyword.arg == "name"]
            return named[0] if named else function.name
    return None


def fixture_definitions():
    """{fixture name: ["tests/...py:line", ...]} over every Python file under tests/."""
    found = defaultdict(list)
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (name := fixture_name(node)):
                found[name].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_fixture_is_defined_twice_under_tests():
    definitions = fixture_definitions()
    assert {"member", "signed_in", "source", "completed_job", "fake_wavespeed"} <= set(definitions)
    assert {name: places for name, places in definitions.items() if len(places) > 1} == {}


def test_no_test_fixture_hides_one_of_pytest_or_its_plugins(request):
    """A fixture named like `client` or `settings` would silently replace pytest-django's in its module."""

    def from_a_plugin(name):  # pytest and its plugins register fixtures under no node id ("")
        return any(definition.baseid == "" for definition in request._fixturemanager.getfixturedefs(name, request.node) or ())

    assert from_a_plugin("client") and from_a_plugin("tmp_path") and not from_a_plugin("member")
    assert sorted(name for name in fixture_definitions() if from_a_plugin(name)) == []

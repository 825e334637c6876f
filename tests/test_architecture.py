"""Import rules that keep the confidentiality boundary visible in the code.

Every module of ``src/culture`` (and every notebook cell) is parsed with :mod:`ast`;
each ``import`` is resolved to the module it loads, including names a package
exports lazily. The rules and why they hold are in ``docs/architecture.md``. A
broken rule fails with the file, line and offending import named.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PKG = SRC / "culture"


@dataclass(frozen=True)
class Import:
    source: str      # importing module, e.g. culture.report.views
    target: str      # imported culture module, e.g. culture.boundary.release
    where: str       # file:line for the message


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def lazy_exports(package: str) -> dict[str, str]:
    """name -> submodule of a package whose __init__ exports lazily (``_EXPORTS``)."""
    init = SRC.joinpath(*package.split(".")) / "__init__.py"
    if not init.exists():
        return {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS"
                                                 for t in node.targets):
            return {k: f"{package}.{v}" for k, v in ast.literal_eval(node.value).items()}
    return {}


def resolve(module: str, names: list[str], level: int, source: str, is_pkg: bool) -> list[str]:
    if level:
        base = source.split(".") if is_pkg else source.split(".")[:-1]
        base = base[:len(base) - level + 1]
        module = ".".join([*base, module] if module else base)
    if not module.startswith("culture"):
        return []
    out = []
    lazy = lazy_exports(module)
    for name in names or [""]:
        if name and is_module(f"{module}.{name}"):
            out.append(f"{module}.{name}")
        elif name in lazy:
            out.append(lazy[name])
        else:
            out.append(module)
    return out


def imports_of(tree: ast.AST, source: str, where: str, *, is_pkg: bool = False) -> Iterator[Import]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("culture"):
                    yield Import(source, alias.name, f"{where}:{node.lineno}")
        elif isinstance(node, ast.ImportFrom):
            for target in resolve(node.module or "", [a.name for a in node.names], node.level,
                                  source, is_pkg):
                yield Import(source, target, f"{where}:{node.lineno}")


def all_imports() -> list[Import]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        if path.parent.name in ("notebooks", "surveys"):
            continue
        name = module_name(path)
        out += imports_of(ast.parse(path.read_text(encoding="utf-8")), name,
                          str(path.relative_to(ROOT)), is_pkg=path.name == "__init__.py")
    return out


def notebook_imports() -> list[Import]:
    out = []
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"], start=1):
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            out += imports_of(ast.parse(source), f"notebook {nb_path.stem}",
                              f"notebooks/{nb_path.name} cell {i}")
    return out


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# Allowed culture imports per layer (a module may always import its own layer).
BASE = ("culture.errors", "culture.frames", "culture.files", "culture._lazy", "culture.resources",
        "culture.results")
RELEASE_SIDE = ("culture.boundary.release", "culture.boundary.bundle", "culture.boundary.leakgate")
RULES = {
    "culture.report": (BASE + RELEASE_SIDE + ("culture.report",),
                       "the report layer reads only the release side of the boundary (release, "
                       "bundle, leak gate): nothing respondent-level can reach a page"),
    "culture.stats": (("culture.errors", "culture.frames", "culture.results", "culture.stats"),
                      "pure statistics depend on nothing but errors, frames and the result base"),
    "culture.analysis": (BASE + ("culture.analysis", "culture.stats", "culture.measure",
                                 "culture.boundary.release", "culture.boundary.aggregate"),
                         "analyses work on released waves and never touch the store or the "
                         "readers"),
    "culture.boundary": (BASE + ("culture.boundary", "culture.measure.instrument"),
                         "the boundary never reads the store: the pipeline hands it the data"),
    "culture.store": (BASE + ("culture.store", "culture.ingest", "culture.measure.instrument"),
                      "the store keeps data; it never builds or reads a release"),
    "culture.ingest": (BASE + ("culture.ingest", "culture.measure.instrument"),
                       "readers only read and check files"),
    "culture.measure": (BASE + ("culture.measure",),
                        "the instrument and its statistics stand on their own"),
    "culture.synth": (BASE + ("culture.synth", "culture.measure"),
                      "the synthetic organisation is made from the instrument only"),
}


# the pipeline joins store and boundary; the command line and the demo sit above it
JOINERS = ("culture.pipeline", "culture.cli", "culture.demo")


def rule_for(module: str) -> tuple[str, tuple[str, ...], str] | None:
    for layer, (allowed, why) in RULES.items():
        if within(module, layer):
            return layer, allowed, why
    return None


def violations(imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        rule = rule_for(imp.source)
        if rule is None:
            continue
        layer, allowed, why = rule
        if not within(imp.target, *allowed):
            out.append(f"{imp.where}: {imp.source} imports {imp.target}; {layer}: {why}")
    # the audit shares no code with suppression: errors only
    out += [f"{i.where}: {i.source} imports {i.target}; the independent audit may import "
            "culture.errors (and the result base) only" for i in imports
            if i.source == "culture.boundary.audit"
            and i.target not in ("culture.errors", "culture.results")]
    # only the pipeline (and the commands above it) join the store and the boundary
    out += [f"{i.where}: {i.source} imports {i.target}; only culture.pipeline joins the store "
            "and the boundary" for i in imports
            if within(i.target, "culture.store")
            and not within(i.source, "culture.store", *JOINERS)]
    return out


def test_every_module_keeps_the_import_rules():
    found = violations(all_imports())
    assert not found, "import rules broken:\n  " + "\n  ".join(found)


def test_notebooks_import_only_the_report_layer():
    bad = [f"{i.where}: imports {i.target}; notebooks import only culture.report"
           for i in notebook_imports() if not within(i.target, "culture.report")]
    assert not bad, "\n".join(bad)
    assert notebook_imports(), "no notebook imports found: the parser is not looking"


def test_the_rules_catch_a_report_module_that_imports_the_store(tmp_path):
    """The rule check itself can fail: a planted import is reported with file, line, reason."""
    planted = ast.parse("from culture.store import Workspace\nfrom culture.boundary.release "
                        "import Release\n")
    found = violations(list(imports_of(planted, "culture.report.views",
                                       "src/culture/report/views.py")))
    assert found == ["src/culture/report/views.py:1: culture.report.views imports "
                     "culture.store; culture.report: the report layer reads only the "
                     "release side of the boundary (release, bundle, leak gate): nothing "
                     "respondent-level can reach a page",
                     "src/culture/report/views.py:1: culture.report.views imports "
                     "culture.store; only culture.pipeline joins the store and the "
                     "boundary"]


@pytest.mark.parametrize("source, target", [
    ("culture.stats.change", "culture.measure.instrument"),
    ("culture.analysis.trends", "culture.ingest.responses"),
    ("culture.boundary.audit", "culture.boundary.suppression"),
    ("culture.boundary.suppression", "culture.store.workspace"),
])
def test_each_rule_fires(source, target):
    assert violations([Import(source, target, "x.py:1")])


def test_no_import_cycles():
    """Module-level and function-level imports together form no cycle."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports():
        if imp.target != imp.source and not imp.source.endswith("__init__"):
            graph.setdefault(imp.source, set()).add(imp.target)
    # a package __init__ is only an index of its modules: leave it out of the graph
    packages = {module_name(p) for p in PKG.rglob("__init__.py")}
    graph = {k: {t for t in v if t not in packages} for k, v in graph.items() if k not in packages}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)


def test_a_notebook_loads_nothing_behind_the_boundary():
    """What a report notebook imports at run time, not only what its source says."""
    code = ("import sys; from culture.report import params, plots, views; "
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('culture'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    behind = [m for m in loaded if within(m, "culture.store", "culture.ingest", "culture.measure",
                                          "culture.analysis", "culture.stats", "culture.pipeline",
                                          "culture.boundary.suppression", "culture.boundary.audit",
                                          "culture.boundary.aggregate", "culture.boundary.ledger")]
    assert "culture.report.views" in loaded
    assert not behind, f"a notebook's imports load {behind}"


def test_modules_stay_small():
    """One job per module: nothing over ~800 lines without a note saying why."""
    big = []
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 850 and "Why this module is long:" not in text:
            big.append(f"{path.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    assert not big, big


def test_every_subpackage_is_listed_for_the_wheel():
    """pyproject lists packages explicitly (notebooks/surveys are mapped in): a new
    subpackage must be added there or the wheel would ship without it."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    present = {module_name(p) for p in PKG.rglob("__init__.py")}
    assert present <= listed, sorted(present - listed)

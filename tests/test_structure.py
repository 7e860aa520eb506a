"""The package's structure, read from the source with `ast`: every import (function-local ones
included) follows the layering written at the top of infra/__init__.py, nothing imports in a circle,
and no module reaches for another module's `_private` name. Plus: the paths that must stay free of
Pulumi (`lab list`, `lab check`, the classroom board) import none of it."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


PROJECT_ROOT = Path(__file__).resolve().parent.parent
INFRA = PROJECT_ROOT / "infra"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the infra module imported (a package's __init__ is the package's name)
    line: int
    names: tuple[str, ...] = ()  # names taken from the target (`from target import a, b`)


def module_files(root: Path = INFRA) -> dict[str, Path]:
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def read_imports(module: str, path: Path, known: set[str]) -> tuple[list[Import], list[tuple[str, str, int]]]:
    """The module's imports of infra modules, and its uses of another module's private attribute
    (`alias._name` where alias is an imported infra module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    imports: list[Import] = []
    aliases: dict[str, str] = {}  # local name -> infra module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "infra":
                    imports.append(Import(module, alias.name, node.lineno))
                    if alias.asname:
                        aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "infra":
                continue
            plain = []
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in known:  # `from infra import commands`: the module itself
                    imports.append(Import(module, submodule, node.lineno))
                    aliases[alias.asname or alias.name] = submodule
                else:
                    plain.append(alias.name)
            if plain:
                imports.append(Import(module, source, node.lineno, tuple(plain)))
    private_uses = [
        (aliases[node.value.id], node.attr, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
        and node.attr.startswith("_") and not node.attr.startswith("__")
    ]
    return imports, private_uses


def all_imports() -> tuple[dict[str, Path], list[Import], list[tuple[str, str, str, int]]]:
    files = module_files()
    imports, private = [], []
    for module, path in files.items():
        found, uses = read_imports(module, path, set(files))
        imports += found
        private += [(module, *use) for use in uses]
    return files, imports, private


def written_layering() -> list[list[str]]:
    """The levels of the docstring of infra/__init__.py: `  N name: module module ...` (continued on
    more deeply indented lines), as lists of dotted names relative to `infra`."""
    doc = ast.get_docstring(ast.parse((INFRA / "__init__.py").read_text(encoding="utf-8")))
    levels: list[list[str]] = []
    for line in doc.partition("\nLayering")[2].splitlines()[1:]:
        heading = re.match(r"^  (\d+) [^:]+:(.*)$", line)
        if heading:
            assert int(heading.group(1)) == len(levels) + 1, line
            levels.append(heading.group(2).split())
        elif line.startswith("    ") and levels:
            levels[-1] += line.split()
    return levels


def level_of(module: str, levels: list[list[str]]) -> int | None:
    """The level naming `module` explicitly, else the one whose `package.*` covers it (deepest package)."""
    name = module.removeprefix("infra").removeprefix(".")
    for index, names in enumerate(levels):
        if name in names:
            return index
    best = None
    for index, names in enumerate(levels):
        for entry in names:
            if entry.endswith(".*") and name.startswith(entry[:-1]):
                if best is None or len(entry) > best[1]:
                    best = (index, len(entry))
    return best[0] if best else None


def circles(modules: set[str], imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), and modules importing themselves."""
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for imp in imports:
        if imp.target in modules:
            graph[imp.module].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layering_violations(imports: list[Import], levels: list[list[str]]) -> list[str]:
    problems = []
    for imp in imports:
        own, other = level_of(imp.module, levels), level_of(imp.target, levels)
        if own is not None and other is not None and other > own:
            problems.append(f"{imp.module}:{imp.line} imports {imp.target} (level {other + 1} > level {own + 1})")
    return problems


# --- the rules on the real source --------------------------------------------------------------------

def test_every_module_has_a_level_in_the_written_layering():
    files = module_files()
    levels = written_layering()
    assert len(levels) >= 5
    assert [module for module in files if module != "infra" and level_of(module, levels) is None] == []
    named = [name for names in levels for name in names if not name.endswith(".*")]
    assert len(named) == len(set(named)), "a module is named at two levels"
    assert [name for name in named if f"infra.{name}".rstrip(".") not in files and name not in ("__main__",)] == []


def test_no_import_goes_against_the_layering():
    _, imports, _ = all_imports()
    assert layering_violations(imports, written_layering()) == []


def test_no_module_imports_in_a_circle():
    files, imports, _ = all_imports()
    assert circles(set(files), imports) == []


def test_no_module_uses_another_modules_private_name():
    files, imports, private_uses = all_imports()
    imported = [f"{imp.module}:{imp.line} imports {name} from {imp.target}" for imp in imports for name in imp.names
                if name.startswith("_") and not name.startswith("__")]
    used = [f"{module}:{line} uses {target}.{attr}" for module, target, attr, line in private_uses if target != module]
    assert imported + used == []


def test_the_classroom_modules_never_import_the_classroom_commands():
    _, imports, _ = all_imports()
    back = [f"{imp.module}:{imp.line}" for imp in imports if imp.target == "infra.classroom.commands"
            and imp.module not in ("infra.classroom.cli",)]
    assert back == []


def test_the_catalog_and_the_check_engine_stay_apart_from_what_they_do_not_need():
    _, imports, _ = all_imports()
    targets = {}
    for imp in imports:
        targets.setdefault(imp.module, set()).add(imp.target)
    assert "infra.footprint" not in targets["infra.checks"]
    assert "infra.checks" not in targets["infra.catalog"]


# --- the analysis itself, on small packages it must judge right -------------------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> tuple[dict[str, Path], list[Import], list]:
    for name, text in files.items():
        path = tmp_path / "infra" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    found = module_files(tmp_path / "infra")
    imports, private = [], []
    for module, path in found.items():
        got, uses = read_imports(module, path, set(found))
        imports += got
        private += [(module, *use) for use in uses]
    return found, imports, private


def test_a_circle_through_a_function_local_import_is_found(tmp_path):
    files, imports, _ = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from infra.b import thing\n",
        "b.py": "def thing():\n    from infra import c\n",
        "c.py": "def late():\n    import infra.a\n",
        "d.py": "from infra.a import thing\n",
    })
    assert circles(set(files), imports) == [["infra.a", "infra.b", "infra.c"]]


def test_private_names_are_found_imported_or_reached_through_a_module(tmp_path):
    _, imports, private = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "_hidden = 1\nshown = 2\n",
        "b.py": "def f():\n    from infra.a import _hidden, shown\n",
        "c.py": "from infra import a as core\nx = core._hidden\ny = core.shown\n",
        "pkg/__init__.py": "",
        "pkg/d.py": "from ..a import _hidden\n",
    })
    imported = sorted((imp.module, name) for imp in imports for name in imp.names if name.startswith("_"))
    assert imported == [("infra.b", "_hidden"), ("infra.pkg.d", "_hidden")]
    assert private == [("infra.c", "infra.a", "_hidden", 2)]


def test_an_import_from_a_later_level_is_a_violation(tmp_path):
    _, imports, _ = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "def f():\n    from infra.high import g\n",
        "high.py": "from infra.low import f\n",
        "pkg/__init__.py": "",
        "pkg/x.py": "from infra import high\n",
    })
    levels = [["low", "pkg"], ["high"], ["pkg.*"]]
    assert level_of("infra.pkg.x", levels) == 2 and level_of("infra.pkg", levels) == 0
    assert layering_violations(imports, levels) == ["infra.low:2 imports infra.high (level 2 > level 1)"]


# --- Pulumi stays out of the paths that do not run the program -----------------------------------------

def _run_and_list_pulumi_modules(code: str) -> tuple[str, list[str]]:
    """Run `code` in a fresh interpreter; its output, and the Pulumi modules it had loaded at the end."""
    probe = (f"import sys\n{code}\n"
             "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'pulumi' "
             "or m.startswith('pulumi_')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    output, _, loaded = done.stdout.rpartition("LOADED ")
    return output, ast.literal_eval(loaded.strip())


def test_lab_list_imports_no_pulumi():
    output, loaded = _run_and_list_pulumi_modules("from infra import commands\ncommands.lab_list()")
    assert "ingress" in output
    assert loaded == []


def test_the_check_path_reads_every_targets_capabilities_without_pulumi(tmp_path):
    """`lab check` up to asking the cluster (none answers here), and what the board decides from the
    target: neither imports Pulumi, on any target."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: none\n"
        "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: none, context: {cluster: none, user: none}}]\nusers: [{name: none, user: {token: x}}]\n"
    )
    code = f"""
from infra import commands
from infra.classroom.board import target_skips
from infra.classroom.record import ClassroomRecord
from infra.clusters import TARGETS
from infra.errors import LabsError
for target in TARGETS:
    target_skips(ClassroomRecord(session="monday", target=target, tenancy="namespace"))
try:
    commands.lab_check("ingress", commands.stack_settings(target="kwok"), kubeconfig={str(kubeconfig)!r}, timeout=0)
except LabsError as exc:
    print("refused:", exc)
"""
    output, loaded = _run_and_list_pulumi_modules(code)
    assert "refused:" in output and "9" in output  # it went as far as the cluster, which did not answer
    assert loaded == []

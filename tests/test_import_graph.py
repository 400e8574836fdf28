"""No import cycle among layerprobe's modules, lazy imports included: the graph is read from the
source, every `import` and `from ... import` wherever it stands (a function body, a TYPE_CHECKING
block), so a cycle that Python survives only because one side imports late still fails here."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import layerprobe

PACKAGE = Path(layerprobe.__file__).parent


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name), tests and bench left out,
    and any folder that is not a subpackage (the repo root is the package: a .venv may sit inside it)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        folders = [PACKAGE.joinpath(*parts[:depth]) for depth in range(1, len(parts))]
        if parts[0] in ("tests", "bench") or not all((folder / "__init__.py").is_file() for folder in folders):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(("layerprobe", *parts))] = path
    return found


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The layerprobe modules that module `name` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from package import module` imports the module; `from module import name` the module
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {target for target in targets if target in modules and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None: a depth-first search that stops at the first back edge."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*stack[stack.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_lazy_relative_and_type_checking_imports(tmp_path):
    source = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\nfrom . import b\n"
              "if TYPE_CHECKING:\n    from layerprobe.pkg.c import C\n"
              "def f():\n    import layerprobe.pkg.d\n    from .e import thing\n")
    (tmp_path / "a.py").write_text(source)
    modules = {f"layerprobe.pkg.{n}": tmp_path / f"{n}.py" for n in "abcde"}
    assert imported("layerprobe.pkg.a", tmp_path / "a.py", modules) == {f"layerprobe.pkg.{n}" for n in "bcde"}


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_the_package_modules():
    graph = import_graph()
    assert "layerprobe.options" in graph and "layerprobe.probes.sweep" in graph["layerprobe.probes.stage"]
    cycle = find_cycle(graph)
    if cycle:
        pytest.fail("import cycle: " + " -> ".join(cycle))


def test_options_import_no_stage():
    # The stages import options.py for their groups; options.py knows their registries only by key.
    stages = ("layerprobe.extract", "layerprobe.probes", "layerprobe.baselines", "layerprobe.report",
              "layerprobe.pipeline", "layerprobe.registries")
    imported_stages = {name for name in import_graph()["layerprobe.options"] if name.startswith(stages)}
    assert imported_stages == set()


def third_party_imports(path: Path) -> set[str]:
    """The top-level names of every module `path` imports anywhere in its source (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_extract_and_finetune_import_torch_transformers_or_peft():
    # probes/, baselines/ and report/ run where torch is absent; peft is the finetune extra's alone.
    heavy = {"torch": ("layerprobe.extract", "layerprobe.finetune"),
             "transformers": ("layerprobe.extract", "layerprobe.finetune"), "peft": ("layerprobe.finetune",)}
    wrong = sorted(f"{name} imports {package}" for name, path in module_names().items()
                   for package in third_party_imports(path) & set(heavy)
                   if not name.startswith(heavy[package]))
    assert wrong == []
    assert "peft" in third_party_imports(module_names()["layerprobe.finetune.lora"])  # the check sees the rungs


def test_the_finetune_command_loads_torch_only_when_it_runs():
    # `layerprobe probe ...` builds every command's parser: the finetune one must not import torch with it.
    import subprocess
    import sys

    code = "import sys, layerprobe.cli; layerprobe.cli.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

"""Imports point one way: trainer -> tpt_live, engines -> tpt_live; tpt_live imports them only inside
CLI command bodies. `trainer` and `engines` are also PyPI names: the imported ones must be ours."""

import ast
from pathlib import Path

import engines
import trainer

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("trainer", "engines")


def _imports(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module.split(".")[0]]
    return []


def test_tpt_live_imports_trainer_and_engines_only_inside_functions():
    offenders = []
    for path in (ROOT / "tpt_live").rglob("*.py"):
        tree = ast.parse(path.read_text())
        inside: set[int] = set()
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                inside |= {id(n) for n in ast.walk(fn)}
        for node in ast.walk(tree):
            if id(node) in inside:
                continue
            offenders += [f"{path.name}: {m}" for m in _imports(node) if m in FORBIDDEN]
    assert offenders == []


def _users_of(names: tuple[str, ...]) -> set[str]:
    """Subpackages (or root modules) of tpt_live that import any of `names`."""
    users = set()
    for path in (ROOT / "tpt_live").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if any(m in names for m in _imports(node)):
                users.add(path.relative_to(ROOT / "tpt_live").parts[0])
    return users


def test_function_level_imports_of_them_are_only_in_the_cli():
    assert _users_of(FORBIDDEN) <= {"cli"}


def test_only_the_cli_package_imports_typer():
    assert _users_of(("typer",)) == {"cli"}


def test_module_counts_and_sizes():
    root = sorted(p.name for p in (ROOT / "tpt_live").glob("*.py"))
    assert len(root) <= 16, root
    for sub in ("track", "monitor", "cli", "synth"):
        assert (ROOT / "tpt_live" / sub / "__init__.py").is_file(), sub
    too_long = []
    for folder in ("tpt_live", "trainer", "engines"):
        for path in (ROOT / folder).rglob("*.py"):
            limit = 300 if path.parent.name == "cli" else 450
            if len(path.read_text().splitlines()) > limit:
                too_long.append(path.relative_to(ROOT).as_posix())
    assert too_long == []


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def _module_graph() -> dict[str, set[str]]:
    """tpt_live module -> tpt_live modules it imports at module level (function bodies excluded)."""
    paths = sorted((ROOT / "tpt_live").rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        name = _module_name(path)
        tree = ast.parse(path.read_text())
        deps: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & modules
                deps |= subs  # `from pkg import submodule` needs the submodule...
                if len(subs) < len(node.names):
                    deps.add(node.module)  # ... any other name needs the package (or module) itself
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d.startswith("tpt_live")}
    return {k: {d for d in v if d in graph and d != k} for k, v in graph.items()}


def test_no_import_cycles():
    graph = _module_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep] if dep in stack else [node, dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_pose_backend_declares_its_template():
    from tpt_live.backend import PoseBackend

    assert "template" in PoseBackend.__annotations__


def test_trainer_and_engines_are_ours():
    assert Path(trainer.__file__).resolve().parent == ROOT / "trainer"
    assert Path(engines.__file__).resolve().parent == ROOT / "engines"


def test_every_referenced_doc_and_markdown_link_exists():
    import re

    docs = {p.name for p in (ROOT / "docs").glob("*.md")} | {"README.md"}
    missing = []
    for folder in ("tpt_live", "trainer", "engines", "benchmarks", "scripts", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in re.findall(r"\b([A-Z][A-Z_]+\.md)\b", path.read_text()):
                if name not in docs:
                    missing.append(f"{path.name}: {name}")
    for md in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)\)", md.read_text()):
            if "://" not in target and not (md.parent / target).exists():
                missing.append(f"{md.name}: {target}")
    assert missing == []


def test_the_onnx_runtime_track_path_imports_no_pytorch():
    """`track --backend onnxruntime` (model, localiser, lifter graph, overlay, CLI) runs without PyTorch, whose
    import is most of the start-up (docs/TRACKING.md); a cache miss exports with it, inside the function."""
    import subprocess
    import sys

    modules = (
        "tpt_live.cli.app", "tpt_live.track.runner", "tpt_live.track.overlay", "engines.select",
        "engines.ort_backend", "engines.localiser_onnx", "tpt_live.checkpoint", "tpt_live.localise",
    )  # fmt: skip
    heavy = ("torch", "kornia")
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr

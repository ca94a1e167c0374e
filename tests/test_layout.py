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


def test_function_level_imports_of_them_are_only_in_the_cli():
    users = set()
    for path in (ROOT / "tpt_live").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if any(m in FORBIDDEN for m in _imports(node)):
                users.add(path.name)
    assert users <= {"cli.py"}, users


def test_trainer_and_engines_are_ours():
    assert Path(trainer.__file__).resolve().parent == ROOT / "trainer"
    assert Path(engines.__file__).resolve().parent == ROOT / "engines"

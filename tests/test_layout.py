"""The package's shape is the architecture: no import cycle, the sandbox side imports nothing of the
grader, reporters never import the batch engine, the CLI is imported by nothing, and the public API is
what grader/__init__.py promises."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT

PKG = PROJECT / "grader"
LAYOUT_CHECK = PROJECT.parent / "shared" / "tools" / "layout_check.py"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PROJECT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, top-level or lazily inside a function, relative ones resolved."""
    me = _module(path).split(".")
    pkg = me if path.name == "__init__.py" else me[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - (node.level - 1)] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


FILES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.skipif(not LAYOUT_CHECK.is_file(), reason="../shared/tools/layout_check.py not present")
def test_shared_layout_check_passes():
    r = subprocess.run([sys.executable, str(LAYOUT_CHECK)], cwd=PROJECT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sandbox_side_files_import_only_the_standard_library_torch_and_each_other():
    inside = PKG / "inside"
    siblings = {p.stem for p in inside.glob("*.py")}
    allowed = set(sys.stdlib_module_names) | {"torch"} | siblings
    for path in inside.glob("*.py"):
        bad = sorted(m for m in _imports(path) if m.split(".")[0] not in allowed and m != "__future__")
        assert not bad, f"{path.name} (bound into the sandbox) imports {bad}"
        assert not any(m == "grader" or m.startswith("grader.") for m in _imports(path)), path


def test_the_files_bound_into_the_sandbox_are_exactly_the_inside_folder():
    from grader.sandbox.command import INSIDE_DIR, WORKER_FILES

    assert Path(INSIDE_DIR) == PKG / "inside"
    assert set(WORKER_FILES) == {p.name for p in (PKG / "inside").glob("*.py") if p.name != "__init__.py"}


def test_reporters_never_import_the_batch_engine_or_the_sandbox():
    for path in (PKG / "report").glob("*.py"):
        bad = sorted(m for m in _imports(path) if m.startswith(("grader.batch", "grader.sandbox", "grader.pipeline")))
        assert not bad, f"reporter {path.name} imports {bad}"


def test_no_library_module_imports_the_cli():
    for path in FILES:
        if "cli" in path.relative_to(PKG).parts:
            continue
        bad = sorted(m for m in _imports(path) if m == "grader.cli" or m.startswith("grader.cli."))
        assert not bad, f"{path.relative_to(PKG)} imports the CLI: {bad}"


def test_cli_command_modules_import_common_never_each_other():
    commands = [p for p in (PKG / "cli").glob("*_cmd.py")]
    assert len(commands) >= 4
    for path in commands:
        others = {f"grader.cli.{p.stem}" for p in commands if p != path}
        assert not (_imports(path) & others), path.name


def test_every_module_says_in_one_line_what_it_does():
    for path in FILES:
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and doc.strip(), f"{path.relative_to(PROJECT)} has no docstring"


def test_public_api_is_curated_and_cheap_to_import():
    import grader

    expected = {"grade", "GradeOptions", "load_rubric", "find_rubric", "Rubric", "Item", "score_items",
                "GradeResult", "ItemResult", "Outcome", "load_submission", "Submission", "BatchRun", "Graded",
                "GraderError", "UsageError", "ConfigError", "InfrastructureError", "SubmissionError", "check",
                "__version__"}
    assert set(grader.__all__) == expected
    for name in expected - {"__version__"}:
        assert getattr(grader, name).__name__ == name
    # `import grader` alone pulls in neither torch nor pytest (the CLI and the template sandbox rely on it).
    code = "import sys, grader; print('torch' in sys.modules, 'pytest' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"]


def test_every_implementation_has_the_methods_its_protocol_names():
    """The Protocols are the contract the fast tests' fakes are held to: a method the real class gains
    or changes there is one the fakes must follow."""
    import inspect

    from fakes import InProcessLauncher, InProcessWorker, in_process_child_launcher

    from grader.batch.children import ChildLauncher, Children
    from grader.sandbox.forked import ForkedWorker, Zygote
    from grader.sandbox.interfaces import Launcher, Worker
    from grader.sandbox.process import WorkerProcess

    def methods(cls) -> dict[str, list[str]]:
        return {n: [p for p in inspect.signature(v).parameters if p != "self"]
                for n, v in vars(cls).items() if not n.startswith("_") and inspect.isfunction(v)}

    fake_children = type(in_process_child_launcher(PROJECT, None, None))
    pairs = [(Worker, WorkerProcess), (Worker, ForkedWorker), (Worker, InProcessWorker), (Launcher, Zygote),
             (Launcher, InProcessLauncher), (Children, ChildLauncher), (Children, fake_children)]
    assert set(methods(Children)) == {"prepare", "close", "start", "collect", "kill", "forget"}
    for proto, impl in pairs:
        for name, params in methods(proto).items():
            assert hasattr(impl, name), f"{impl.__name__} lacks {name}() of {proto.__name__}"
            got = [p for p in inspect.signature(getattr(impl, name)).parameters if p != "self"]
            assert got == params, f"{impl.__name__}.{name}{tuple(got)} is not {proto.__name__}.{name}{tuple(params)}"

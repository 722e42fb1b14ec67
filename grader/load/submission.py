"""Load a submission (.ipynb, .py or a folder) into code chunks that remember where they came from."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SubmissionError

MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
MAX_FOLDER_FILES = 200
# The code itself (outputs and images do not count): the grader parses it in its own process, so a
# megabyte of `x = 1` lines must be refused before it costs gigabytes and minutes there.
MAX_CODE_CHARS = 1_000_000
MAX_CODE_LINES = 20_000
MAX_STATEMENTS = 2_000
# A notebook's JSON is parsed in the grader's process too, and what that costs is the number of
# values, not bytes: 50 MB of `[],` is 16 million lists (a gigabyte), 820,000 empty cells took
# nbformat's validation 93 s. Values, cells and nesting are bounded before json.loads (values, cells)
# or before nbformat sees anything (cells, nesting).
MAX_JSON_VALUES = 1_000_000
MAX_JSON_DEPTH = 64
MAX_CELLS = 2_000
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Statement kinds that are definitions by themselves.
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MAGIC = re.compile(r"^(\s*)(%|!|[A-Za-z_][A-Za-z_0-9]*\s*=\s*[!%])")


@dataclass(frozen=True)
class Chunk:
    """One top-level statement to run, padded so its line numbers match the cell it came from."""

    code: str
    filename: str  # "cell 12" or "submission.py": what a student sees in a traceback
    line: int  # first line of the statement inside that cell or file


@dataclass(frozen=True)
class Submission:
    """A loaded submission: the chunks to execute and what was dropped on the way."""

    path: str
    kind: str  # "ipynb" | "py"
    chunks: tuple[Chunk, ...]
    notes: tuple[str, ...]  # skipped cells, dropped statements: shown to the student
    sha256: str
    files_dir: str | None = None  # folder submissions: made visible read-only in the sandbox
    # Notebook cells as a student finds them: ("cell 20", names it defines, its first line of code).
    cells: tuple[tuple[str, tuple[str, ...], str], ...] = ()

    def cell_guide(self) -> dict[str, tuple[tuple[str, ...], str]]:
        return {name: (defines, first) for name, defines, first in self.cells}

    def definitions(self, name: str) -> tuple[ast.AST, ...]:
        """Every top-level definition (def, class or assignment) of `name`, in order."""
        found = []
        for chunk in self.chunks:
            for node in ast.parse(chunk.code).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    if node.name == name:
                        found.append(node)
                elif name in _assigned_names(node):
                    found.append(node)
        return tuple(found)


@dataclass(frozen=True)
class _Source:
    text: str
    filename: str
    stub: bool = False  # stands in for a definition that could not be compiled


def load_submission(path: str | Path, *, keep: str = "definitions", required: tuple[str, ...] = ()) -> Submission:
    """Read a submission; raise SubmissionError with a one-line reason when it cannot be read.

    keep="definitions" keeps imports, defs, classes and the module-level names they (or the
    `required` names) use; keep="all" keeps every statement.
    """
    p = Path(path)
    if not p.exists():
        raise SubmissionError(f"{p}: no such file or folder")
    files_dir = None
    if p.is_dir():
        files_dir = str(p.resolve())
        p = pick_from_folder(p)
    raw = _read_bytes(p)
    if p.suffix.lower() == ".ipynb":
        sources, kind = _notebook_sources(raw, p), "ipynb"
    elif p.suffix.lower() == ".py":
        sources, kind = [_Source(_decode(raw, p), p.name)], "py"
    else:
        raise SubmissionError(f"{p}: expected a .ipynb notebook, a .py file or a folder holding one")
    chars = sum(len(s.text) for s in sources)
    lines = sum(s.text.count("\n") + 1 for s in sources)
    if chars > MAX_CODE_CHARS or lines > MAX_CODE_LINES:
        raise SubmissionError(
            f"{p.name}: {chars:,} characters in {lines:,} lines of code is over the limit "
            f"({MAX_CODE_CHARS:,} characters, {MAX_CODE_LINES:,} lines); remove pasted data or generated code")
    notes: list[str] = []
    statements = []
    for src in sources:
        statements.extend(_split(src, notes))
        if len(statements) > MAX_STATEMENTS:
            raise SubmissionError(f"{p.name}: more than {MAX_STATEMENTS:,} top-level statements; "
                                  "remove pasted data or generated code")
    statements = _without_shadowing_stubs(statements)
    if keep == "definitions":
        statements = _keep_definitions(statements, required, notes)
    split_lines: dict[int, list[str]] = {}  # each source split once, not once per statement
    chunks = tuple(_chunk(src, node, split_lines.setdefault(id(src), src.text.split("\n")))
                   for src, node in statements)
    if not any(s.text.strip() for s in sources):
        notes.append("the submission contains no code")
    return Submission(
        path=str(path), kind=kind, chunks=chunks, notes=tuple(notes),
        sha256=hashlib.sha256(raw).hexdigest(), files_dir=files_dir,
        cells=_cell_guide(sources, statements) if kind == "ipynb" else (),
    )


def _cell_guide(sources: list[_Source], statements) -> tuple[tuple[str, tuple[str, ...], str], ...]:
    defines: dict[str, list[str]] = {}
    for src, node in statements:
        names = [node.name] if hasattr(node, "name") else sorted(_assigned_names(node))
        known = defines.setdefault(src.filename, [])
        known += [n for n in names if n not in known]
    guide = []
    for src in sources:
        lines = [ln.strip() for ln in src.text.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
        first = lines[0] if lines else ""
        first = first if len(first) <= 40 else first[:37] + "..."
        guide.append((src.filename, tuple(defines.get(src.filename, ())), first))
    return tuple(guide)


def _without_shadowing_stubs(statements):
    """A cell that does not compile does not run in Jupyter either: an earlier definition of the same
    name stays, so its stub goes."""
    defined: set[str] = set()
    out = []
    for src, node in statements:
        name = getattr(node, "name", None)
        if src.stub and name in defined:
            continue
        defined |= {name} if name else _assigned_names(node)
        out.append((src, node))
    return out


def pick_from_folder(folder: Path) -> Path:
    """The one notebook (else the one .py file) a folder submission holds; a SubmissionError otherwise."""
    candidates = [
        f for f in sorted(folder.rglob("*"))
        if f.is_file() and not f.is_symlink() and f.suffix.lower() in (".ipynb", ".py")
        and ".ipynb_checkpoints" not in f.parts and not f.name.startswith(("test_", "conftest", "sitecustomize"))
    ]
    if len(list(folder.rglob("*"))) > MAX_FOLDER_FILES:
        raise SubmissionError(f"{folder}: more than {MAX_FOLDER_FILES} files; submit the notebook alone")
    notebooks = [f for f in candidates if f.suffix.lower() == ".ipynb"]
    chosen = notebooks or candidates
    if not chosen:
        raise SubmissionError(f"{folder}: no .ipynb or .py file found in the folder")
    if len(chosen) > 1:
        names = ", ".join(str(c.relative_to(folder)) for c in chosen[:5])
        raise SubmissionError(f"{folder}: several candidate files ({names}); submit exactly one notebook")
    return chosen[0]


def _read_bytes(p: Path) -> bytes:
    size = p.stat().st_size
    if size == 0:
        raise SubmissionError(f"{p.name}: the file is empty; submit your saved notebook")
    if size > MAX_SUBMISSION_BYTES:
        raise SubmissionError(
            f"{p.name}: {size / 2**20:.0f} MB is over the {MAX_SUBMISSION_BYTES // 2**20} MB limit; "
            "clear the notebook's outputs (Kernel > Restart & Clear Output) and save again"
        )
    return p.read_bytes()


def _decode(raw: bytes, p: Path) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            f"{p.name}: not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _json_values(raw: bytes) -> int:
    """About how many values json.loads would build from `raw` (never fewer), in C-speed passes: the
    strings (by their quotes), plus the commas and brackets outside them. Strings are stripped (the
    slower pass) only when the commas and brackets in the raw bytes are too many to take as they are."""
    strings = (raw.count(b'"') - raw.count(b'\\"')) // 2
    structural = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if strings > MAX_JSON_VALUES or strings + structural <= MAX_JSON_VALUES:
        return strings + structural
    bare = _JSON_STRING.sub(b"", raw)
    return strings + bare.count(b",") + bare.count(b"[") + bare.count(b"{")


def _check_shape(data: dict, p: Path) -> None:
    """Cells and nesting bounded, before nbformat walks the notebook (its cost grows with both)."""
    cells = data.get("cells")
    if isinstance(cells, list) and len(cells) > MAX_CELLS:
        raise SubmissionError(f"{p.name}: {len(cells):,} cells is over the limit of {MAX_CELLS:,}; "
                              "remove empty or generated cells")
    level, todo = 0, [data]
    while todo:  # breadth first, one level at a time: containers only
        level += 1
        if level > MAX_JSON_DEPTH:
            raise SubmissionError(f"{p.name}: values nested more than {MAX_JSON_DEPTH} deep; "
                                  "the notebook file is damaged, download it again from Jupyter")
        todo = [v for c in todo for v in (c.values() if type(c) is dict else c) if type(v) in (dict, list)]


def _notebook_sources(raw: bytes, p: Path) -> list[_Source]:
    import nbformat

    if raw.count(b'"cell_type"') > MAX_CELLS:  # the common case of too many cells, in one pass
        raise SubmissionError(f"{p.name}: more than {MAX_CELLS:,} cells is over the limit; "
                              "remove empty or generated cells")
    if _json_values(raw) > MAX_JSON_VALUES:
        raise SubmissionError(
            f"{p.name}: more than {MAX_JSON_VALUES:,} JSON values is over the limit; clear the notebook's "
            "outputs (Kernel > Restart & Clear Output), remove generated cells and save again")
    text = _decode(raw, p)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(
            f"{p.name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the notebook file is damaged, download it again from Jupyter"
        ) from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, or arrays nested 100,000 deep
        raise SubmissionError(
            f"{p.name}: not a usable notebook ({type(exc).__name__}: {str(exc)[:80]}); "
            "the notebook file is damaged, download it again from Jupyter"
        ) from None
    if not isinstance(data, dict) or "cells" not in data:
        raise SubmissionError(f"{p.name}: JSON but not a Jupyter notebook (no 'cells' list)")
    major = data.get("nbformat")
    if major != 4:
        raise SubmissionError(
            f"{p.name}: notebook format {major!r:.40} is not supported; open and save it in a current "
            "Jupyter (nbformat 4)"
        )
    _check_shape(data, p)
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several types; all mean "not a valid notebook"
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SubmissionError(f"{p.name}: not a valid Jupyter notebook ({first})") from None
    sources = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(source)
            sources.append(_Source(source.replace("\r\n", "\n").replace("\r", "\n"), f"cell {index}"))
    return sources


def _strip_magics(text: str) -> tuple[str, int]:
    """Replace IPython magics and !shell lines by `pass`, keeping line numbers and indentation."""
    lines = text.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        return "", len(lines)  # a cell magic makes the whole cell non-Python
    dropped = 0
    for i, line in enumerate(lines):
        m = _MAGIC.match(line)
        if m and not line.lstrip().startswith(("%=", "!=")):
            lines[i] = m.group(1) + "pass"
            dropped += 1
    return "\n".join(lines), dropped


def _split(src: _Source, notes: list[str]) -> list[tuple[_Source, ast.stmt]]:
    text, dropped = _strip_magics(src.text)
    if dropped and not text:
        notes.append(f"{src.filename}: cell magic, skipped")
        return []
    try:
        tree = ast.parse(text, filename=src.filename)
    except SyntaxError as exc:
        # Salvage what parses: each top-level def/class/import block on its own, so one typo
        # costs only the function it is in.
        out = []
        blocks = _blocks(text)
        if len(blocks) > MAX_STATEMENTS:  # each block is parsed on its own: keep that bounded
            notes.append(f"{src.filename}, line {exc.lineno}: SyntaxError: {exc.msg}; skipped")
            return []
        broken: list[str] = []
        for block in blocks:
            try:
                out += [(_Source(block, src.filename), n) for n in ast.parse(block).body]
            except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
                stub = _stub(block, src.filename, err if isinstance(err, SyntaxError) else exc)
                if stub is not None:
                    out += [(stub, n) for n in ast.parse(stub.text).body]
                    broken.append(_defined(block)[1])
                    out += _after_definition(block, src.filename)
        kept = ", ".join(sorted({n.name for _, n in out if hasattr(n, "name")} - set(broken))) or "nothing"
        where = "cell" if src.filename.startswith("cell") else "file"
        stubs = (f"; calling {', '.join(broken)} fails with this error, and what only mentions "
                 f"{'it' if len(broken) == 1 else 'them'} still loads") if broken else ""
        notes.append(
            f"{src.filename}, line {exc.lineno}: SyntaxError: {exc.msg}; the broken part of this "
            f"{where} was skipped (kept from it: {kept}){stubs}"
        )
        return out
    except (ValueError, RecursionError, MemoryError) as exc:
        notes.append(f"{src.filename}: could not be parsed ({type(exc).__name__}); skipped")
        return []
    src = _Source(text, src.filename)
    return [(src, node) for node in tree.body]


_BLOCK_START = re.compile(r"^(def |class |async def |@|import |from )")
_DEFINED = re.compile(r"^(?:async\s+)?(def|class)\s+([A-Za-z_][A-Za-z0-9_]*)")


def _defined(block: str) -> tuple[str, str] | None:
    """('def', 'sigmoid') for a block that starts (after decorators and comments) a def or class."""
    for line in block.split("\n"):
        m = _DEFINED.match(line)
        if m:
            return m.group(1), m.group(2)
        if line.strip() and not line.startswith(("@", "#", " ", "\t")):
            return None
    return None


def _after_definition(block: str, filename: str) -> list[tuple[_Source, ast.stmt]]:
    """The top-level statements after a broken definition in the same block (`ACTIVATIONS = {...}`
    below a broken def in a .py file), when they parse on their own."""
    lines = block.split("\n")
    start = next(i for i, ln in enumerate(lines) if _DEFINED.match(ln))
    for i in range(start + 1, len(lines)):
        if lines[i][:1] not in ("", " ", "\t", "#", ")", "]", "}"):
            rest = "\n" * i + "\n".join(lines[i:])
            try:
                return [(_Source(rest, filename), n) for n in ast.parse(rest).body]
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return []
    return []


def _stub(block: str, filename: str, err: SyntaxError) -> _Source | None:
    """A function or class that cannot be compiled becomes a stub of the same name, at the same line,
    that raises the SyntaxError when called: a later cell that only mentions it (a dict of activations)
    still loads, and only what calls it fails."""
    found = _defined(block)
    if found is None:
        return None
    kind, name = found
    line = next(i for i, ln in enumerate(block.split("\n")) if _DEFINED.match(ln))
    detail = repr((str(err.msg)[:200], (filename, err.lineno or line + 1, err.offset or 0, None)))
    if kind == "def":
        code = f"def {name}(*args, **kwargs):\n    raise SyntaxError(*{detail})\n"
    else:
        code = f"class {name}:\n    def __init__(self, *args, **kwargs):\n        raise SyntaxError(*{detail})\n"
    # On the definition's own line, so tracebacks point at the broken code.
    return _Source("\n" * line + code, filename, stub=True)


def _blocks(text: str) -> list[str]:
    """Split source at top-level definitions; each block keeps its original line numbers."""
    lines = text.split("\n")
    starts = [0]
    for i, line in enumerate(lines):
        if i and _BLOCK_START.match(line) and not lines[i - 1].startswith("@"):
            starts.append(i)
    starts.append(len(lines))
    return ["\n" * a + "\n".join(lines[a:b]) for a, b in zip(starts, starts[1:])]


def _assigned_names(node: ast.AST) -> set[str]:
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    names = set()
    for t in targets:
        for sub in ast.walk(t):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names


def _loaded_names(node: ast.AST) -> set[str]:
    """Names a statement reads from the module scope (a function's parameters and locals excluded)."""
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    local: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = sub.args
            local |= {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
            local |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
            local |= {n.id for n in ast.walk(sub) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    return loaded - local


def _is_definition_block(node: ast.AST) -> bool:
    """An if/try/with at top level made only of definitions (e.g. an optional import)."""
    if isinstance(node, _DEFINITIONS) or isinstance(node, ast.Pass):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True  # a docstring or a bare string
    if isinstance(node, ast.If):
        return all(map(_is_definition_block, node.body + node.orelse))
    if isinstance(node, ast.Try):
        blocks = node.body + node.orelse + node.finalbody
        blocks += [s for h in node.handlers for s in h.body]
        return all(map(_is_definition_block, blocks))
    return False


def _keep_definitions(statements, required, notes):
    kept = [False] * len(statements)
    needed = set(required)
    for i, (_, node) in enumerate(statements):
        if isinstance(node, _DEFINITIONS) or (
            isinstance(node, (ast.If, ast.Try)) and _is_definition_block(node)
        ):
            kept[i] = True
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                needed |= _loaded_names(node)
    # Module-level names used by kept definitions, transitively (ACTIVATIONS = {...}, device = ...).
    changed = True
    while changed:
        changed = False
        for i, (_, node) in enumerate(statements):
            if not kept[i] and isinstance(node, (ast.Assign, ast.AnnAssign)):
                if _assigned_names(node) & needed:
                    kept[i] = True
                    needed |= _loaded_names(node)
                    changed = True
    # An import nothing kept uses (matplotlib, torchvision for a demo) only costs start-up time.
    for i, (_, node) in enumerate(statements):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not _import_used(node, needed):
            kept[i] = False
    skipped = sum(1 for k, (_, n) in zip(kept, statements)
                  if not k and not _is_docstring(n) and not isinstance(n, (ast.Import, ast.ImportFrom)))
    if skipped:
        notes.append(
            f"{skipped} top-level statement(s) that are not definitions (training runs, plots, "
            "prints, downloads) were not run"
        )
    return [s for s, k in zip(statements, kept) if k]


def _import_used(node: ast.Import | ast.ImportFrom, needed: set[str]) -> bool:
    for alias in node.names:
        if alias.name == "*":
            return True
        bound = alias.asname or alias.name.split(".")[0]
        if bound in needed:
            return True
    return False


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def _chunk(src: _Source, node: ast.stmt, lines: list[str]) -> Chunk:
    decorators = getattr(node, "decorator_list", None)
    first = min([node.lineno] + [d.lineno for d in decorators or ()])
    if decorators:
        segment = "\n".join(lines[first - 1:node.end_lineno])
    else:
        # A segment, not whole lines: `import torch; x = 1` is two statements on one line.
        segment = _segment(lines, node)
    # Blank lines before the statement keep the student's line numbers in tracebacks.
    return Chunk(code="\n" * (first - 1) + segment + "\n", filename=src.filename, line=first)


def _segment(lines: list[str], node: ast.stmt) -> str:
    """ast.get_source_segment on lines split once (it splits the whole source on every call)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    head = lines[first].encode("utf-8", "surrogatepass")  # offsets count UTF-8 bytes
    if first == last:
        return head[node.col_offset:node.end_col_offset].decode("utf-8", "surrogatepass")
    tail = lines[last].encode("utf-8", "surrogatepass")[:node.end_col_offset]
    return "\n".join([head[node.col_offset:].decode("utf-8", "surrogatepass"), *lines[first + 1:last],
                      tail.decode("utf-8", "surrogatepass")])

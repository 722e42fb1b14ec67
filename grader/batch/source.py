"""Turn a batch source (a folder, or a Gradescope, Canvas or Moodle zip) into per-student submissions, safely."""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.classrun import ClassSource, Person, Refused, StudentSubmission
from grader.errors import UsageError
from grader.load.submission import MAX_SUBMISSION_BYTES

GRADEABLE = (".ipynb", ".py")
JUNK = ("__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini")
# Output names in the batch folder that a student key must never take.
RESERVED = {"grades.csv", "report.html", "journal.jsonl"}

# Moodle: "Jane Doe_12345_assignsubmission_file_" (a folder) or "..._file_hw.ipynb" (flat downloads).
# Matched ignoring case: exports and the tools TAs pass them through differ ("_LATE_", "_late_").
MOODLE = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<rest>.*)$", re.IGNORECASE)
# Canvas: "smithjohn_12345_67890_hw.ipynb", "smithjohn_late_12345_67890_hw.ipynb".
CANVAS = re.compile(r"^(?P<name>[^_]+)(?P<late>_late)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$", re.IGNORECASE)
NOT_GRADEABLE = "not a .ipynb or .py file, so not graded"


@dataclass(frozen=True)
class Caps:
    """What an archive may unpack to: zip bombs stop here, checked on declared and on actual sizes."""

    max_files: int = 5000
    max_file_bytes: int = MAX_SUBMISSION_BYTES
    max_total_bytes: int = 2 * 1024**3
    max_ratio: int = 200  # compression ratio above which an entry over 1 MiB is refused


def open_source(source: str | Path, workdir: str | Path, *, caps: Caps = Caps(),
                exclude: Path | None = None) -> ClassSource:
    """Read a folder in place, or unpack a zip into workdir; raise UsageError only if SOURCE is neither."""
    src, work = Path(source), Path(workdir)
    if src.is_dir():
        return _classify(src, [], work / "students", move=False, exclude=exclude)
    if not src.is_file():
        raise UsageError(f"{src}: no such file or folder")
    if not zipfile.is_zipfile(src):
        raise UsageError(f"{src}: not a zip file or a folder of submissions")
    refused = safe_extract(src, work / "extracted", caps)
    return _classify(work / "extracted", refused, work / "students", move=True, exclude=None)


def safe_extract(archive: str | Path, dest: str | Path, caps: Caps = Caps()) -> list[Refused]:
    """Unpack regular files only, inside dest; every refused entry is reported and skipped."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    refused: list[Refused] = []
    seen: set[str] = set()
    total = files = 0
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{archive}: cannot read the zip ({exc})") from None
    with zf:
        for info in zf.infolist():
            name, why = _entry_path(info)
            shown = name or _printable(info.filename)
            if why is None and name is not None:
                why = _entry_problem(info, name, seen, files, total, caps)
            if why:
                refused.append(Refused(shown, why))
                continue
            if name is None or info.is_dir() or _is_junk(name):
                continue
            seen.add(name)
            written, why = _copy_entry(zf, info, dest, name, caps, total)
            if why:
                refused.append(Refused(name, why))
                continue
            files += 1
            total += written
    return refused


def _printable(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")


def _entry_path(info: zipfile.ZipInfo) -> tuple[str | None, str | None]:
    """(safe relative path, None) or (None, why not)."""
    raw = info.filename
    if not info.flag_bits & 0x800:
        # Without the UTF-8 flag zipfile decoded the name as cp437, but most tools write UTF-8 anyway.
        try:
            raw = raw.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return None, "the name is not UTF-8"
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        return None, "control characters in the name"
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None, "absolute path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, "path leads outside the archive (..)"
    if not parts:
        return None, None
    return "/".join(parts), None


def _entry_problem(info: zipfile.ZipInfo, name: str, seen: set[str], files: int, total: int,
                   caps: Caps) -> str | None:
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return "symbolic link"
    if info.is_dir() or _is_junk(name):
        return None
    if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted"
    if name in seen:
        return "duplicate entry"
    if files >= caps.max_files:
        return f"more than {caps.max_files} files in the archive"
    if info.file_size > caps.max_file_bytes:
        return f"{info.file_size / 2**20:.0f} MB, over the {caps.max_file_bytes // 2**20} MB limit per file"
    if total + info.file_size > caps.max_total_bytes:
        return f"the archive unpacks to more than {caps.max_total_bytes // 2**20} MB"
    if info.file_size > 2**20 and info.file_size > caps.max_ratio * max(1, info.compress_size):
        return f"compressed {info.file_size // max(1, info.compress_size)}:1 (zip bomb?)"
    return None


def _is_junk(name: str) -> bool:
    return any(part in JUNK or part.startswith("._") for part in name.split("/"))


def _copy_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, name: str, caps: Caps,
                total: int) -> tuple[int, str | None]:
    """Stream one entry out, counting real bytes: a lying header cannot get past the caps."""
    target = dest.joinpath(*name.split("/"))
    limit = min(info.file_size, caps.max_file_bytes, caps.max_total_bytes - total)
    written = 0
    try:
        for parent in reversed(target.relative_to(dest).parents[:-1]):
            d = dest / parent
            if d.is_symlink() or (d.exists() and not d.is_dir()):
                return 0, "a path component is a file"
            d.mkdir(exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        return 0, f"cannot be written ({exc.strerror})"
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while chunk := src.read(1 << 16):
                written += len(chunk)
                if written > limit:
                    raise _TooBig
                out.write(chunk)
    except _TooBig:
        target.unlink()
        return 0, "unpacks to more bytes than its header declares or the caps allow (zip bomb?)"
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        target.unlink(missing_ok=True)
        return 0, f"corrupt entry ({exc})"
    return written, None


class _TooBig(Exception):
    pass


# ---- what the files mean: which student handed in what ----

def _classify(root: Path, refused: list[Refused], staging: Path, *, move: bool,
              exclude: Path | None) -> ClassSource:
    meta = sorted(root.rglob("submission_metadata.yml"), key=lambda p: len(p.parts))
    if meta:
        return _gradescope(meta[0], refused)
    base = _descend(root)
    names = [p.name for p in base.iterdir() if not _is_junk(p.name)]
    if any(MOODLE.match(n) for n in names):
        return _grouped("moodle", base, refused, staging, move, _moodle_owner)
    if names and sum(1 for n in names if CANVAS.match(n)) * 2 >= len(names):
        return _grouped("canvas", base, refused, staging, move, _canvas_owner)
    return _folder(base, refused, exclude)


def _descend(root: Path) -> Path:
    # A zip of a folder of submissions holds just that folder (never a student's own folder).
    while True:
        entries = [p for p in root.iterdir() if not _is_junk(p.name)]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
            return root
        inner = entries[0]
        if MOODLE.match(inner.name) or CANVAS.match(inner.name) \
                or len([p for p in inner.iterdir() if not _is_junk(p.name)]) < 2:
            return root
        root = inner


def _folder(base: Path, refused: list[Refused], exclude: Path | None) -> ClassSource:
    subs: list[StudentSubmission] = []
    ignored: list[Refused] = []
    keys: set[str] = set()
    for p in sorted(base.iterdir()):
        if _is_junk(p.name) or p.name.startswith(".") or (exclude and p.resolve() == exclude.resolve()):
            continue
        if p.is_symlink():
            refused.append(Refused(p.name, "symbolic link"))
        elif p.is_dir() or _gradeable(p.name):
            ident = p.name if p.is_dir() else p.stem
            path = _single_file(p) if p.is_dir() else p
            subs.append(StudentSubmission(_unique_key(ident, keys), path, (Person(ident),), p.name))
        else:
            ignored.append(Refused(p.name, NOT_GRADEABLE))
    return ClassSource("folder", tuple(subs), tuple(refused), tuple(ignored))


def _gradeable(name: str) -> bool:
    return name.lower().endswith(GRADEABLE)


def _gradescope(meta_file: Path, refused: list[Refused]) -> ClassSource:
    import yaml

    base = meta_file.parent
    try:
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{meta_file.name}: not valid YAML ({exc})") from None
    if not isinstance(meta, dict):
        raise UsageError(f"{meta_file.name}: expected a mapping of submission folders")
    subs: list[StudentSubmission] = []
    keys: set[str] = set()
    for folder, info in sorted(meta.items(), key=lambda kv: str(kv[0])):
        folder = str(folder)
        path = base / folder
        if "/" in folder or folder in ("", ".", "..") or not path.is_dir() or path.is_symlink():
            refused.append(Refused(folder, "named in submission_metadata.yml but not in the archive"))
            continue
        students = tuple(_gradescope_student(s) for s in _submitters(info)) or (Person(folder),)
        students = tuple(s if s.id else Person(folder, s.name, s.email) for s in students)
        key = _unique_key(students[0].id, keys)
        subs.append(StudentSubmission(key, _single_file(path), students, folder))
    listed = {str(f) for f in meta}
    ignored = [Refused(p.name, "a folder submission_metadata.yml does not name, so not graded" if p.is_dir()
                       else "a file beside the submission folders, so not graded")
               for p in sorted(base.iterdir())
               if p.name not in listed and p != meta_file and not _is_junk(p.name) and not p.is_symlink()]
    return ClassSource("gradescope", tuple(subs), tuple(refused), tuple(ignored))


def _submitters(info) -> list:
    if not isinstance(info, dict):
        return []
    found = info.get(":submitters") or info.get("submitters") or []
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def _gradescope_student(s: dict) -> Person:
    def get(k):
        v = s.get(f":{k}", s.get(k))
        return "" if v is None else str(v)

    return Person(get("sid") or get("email"), get("name"), get("email"))


def _moodle_owner(rel: str) -> tuple[Person, str, bool] | str | None:
    """(student, file name, late) for an entry of a Moodle download, why not, or None when it matches no layout."""
    top, _, below = rel.partition("/")
    m = MOODLE.match(top)
    if not m:
        return None
    if m["plugin"].lower() != "file":
        return f"Moodle {m['plugin']} (not a file submission), so not graded"
    filename = below or m["rest"]
    return (Person(m["id"], m["name"]), filename, False) if filename else "an empty Moodle file name, so not graded"


def _canvas_owner(rel: str) -> tuple[Person, str, bool] | None:
    m = CANVAS.match(rel.partition("/")[0])
    if not m:
        return None
    below = rel.partition("/")[2]
    return Person(m["uid"], m["name"]), below or m["file"], bool(m["late"])


def _grouped(kind: str, base: Path, refused: list[Refused], staging: Path, move: bool, owner) -> ClassSource:
    """Gather each student's files (one or several) into a folder of their own under staging. A gradeable
    file matching no layout is graded under a name taken from its own (a TA renamed it, or uploaded it
    by hand), flagged; anything else not graded is listed with the reason."""
    students: dict[str, Person] = {}
    files: dict[str, list[tuple[Path, str]]] = {}
    late: set[str] = set()
    notes: dict[str, str] = {}
    ignored: list[Refused] = []
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base).as_posix()
        if _is_junk(rel):
            continue
        if p.is_symlink():
            refused.append(Refused(rel, "symbolic link"))
            continue
        if not p.is_file():
            continue
        found = owner(rel)
        if found is None and _gradeable(p.name):
            top = rel.partition("/")[0]
            ident = "stray-" + re.sub(r"[^A-Za-z0-9._@-]+", "_", Path(top).stem if top == rel else top)
            found = (Person(ident), rel.partition("/")[2] or p.name, False)
            notes[ident] = (f"the name matches no {kind} layout, so it is graded as {ident!r} (a name taken "
                            "from the file's); check who handed it in")
        if not isinstance(found, tuple):
            ignored.append(Refused(rel, found or f"matches no {kind} layout and {NOT_GRADEABLE}"))
            continue
        student, filename, is_late = found
        students.setdefault(student.id, student)
        files.setdefault(student.id, []).append((p, filename))
        if is_late:
            late.add(student.id)
    subs: list[StudentSubmission] = []
    keys: set[str] = set()
    for sid in sorted(students):
        key = _unique_key(sid, keys)
        folder = staging / key
        folder.mkdir(parents=True, exist_ok=True)
        for src, filename in files[sid]:
            target = folder / filename
            if not _safe_relative(filename) or target.exists():
                refused.append(Refused(src.relative_to(base).as_posix(), "clashes with another file of the same student"))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            (os.replace if move else shutil.copyfile)(src, target)
        shown = files[sid][0][0].relative_to(base).as_posix().partition("/")[0]
        subs.append(StudentSubmission(key, _single_file(folder), (students[sid],), shown, sid in late,
                                      notes.get(sid, "")))
    return ClassSource(kind, tuple(subs), tuple(refused), tuple(ignored))


def _safe_relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and ".." not in parts


def _single_file(folder: Path) -> Path:
    # A folder holding one file is graded as that file, exactly as `grade FILE` would.
    entries = [p for p in folder.rglob("*") if not _is_junk(p.relative_to(folder).as_posix())]
    files = [p for p in entries if p.is_file() and not p.is_symlink()]
    if len(entries) == 1 and len(files) == 1 and _gradeable(files[0].name):
        return files[0]
    return folder


def _unique_key(ident: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._@-]+", "_", ident).strip("._-")[:80] or "student"
    if base in RESERVED:
        base = f"student_{base}"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    taken.add(key)
    return key

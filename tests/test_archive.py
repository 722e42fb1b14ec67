"""Class archives: Gradescope, Canvas and Moodle exports map to students; hostile entries are refused one by one."""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from grader.batch.source import Caps, open_source, safe_extract
from grader.errors import UsageError

FILES = {"ada": b"def mean(x):\n    return x.mean()\n", "ben": b"def mean(x):\n    return x.sum()\n",
         "cy": b"def mean(x)\n", "dee": b"print('hello')\n"}
PEOPLE = {"ada": ("1001", "Ada Lovelace", "lovelaceada"), "ben": ("1002", "Ben Black", "blackben"),
          "cy": ("1003", "Cy Young", "youngcy"), "dee": ("1004", "Dee Dee", "deedee")}


def roster(files: dict[str, bytes] = FILES, people=PEOPLE, suffix=".py") -> list[tuple]:
    """(sid, full name, canvas login, {file name: bytes}) per student."""
    return [(*people[who], {f"{who}{suffix}": data}) for who, data in files.items()]


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def gradescope_entries(students=None) -> dict[str, bytes]:
    """Gradescope's "Export Submissions": one folder per submission, submission_metadata.yml naming who."""
    root = "assignment_42_export"
    meta, entries = [], {}
    for n, (sid, name, login, files) in enumerate(students or roster(), start=1):
        folder = f"submission_{5550 + n}"
        meta.append(f"{folder}:\n  :submitters:\n  - :name: {name}\n    :sid: '{sid}'\n    :email: {login}@uni.edu\n"
                    f"  :created_at: 2024-01-0{n % 9 + 1} 10:00:00.000000000 -08:00\n  :score: \n")
        entries.update({f"{root}/{folder}/{filename}": data for filename, data in files.items()})
    entries[f"{root}/submission_metadata.yml"] = "".join(meta).encode()
    return entries


def canvas_entries(students=None, late=("1002",)) -> dict[str, bytes]:
    """Canvas's "Download Submissions": <login>[_late]_<user id>_<submission id>_<file name>, flat."""
    return {f"{login}{'_late' if sid in late else ''}_{sid}_{67890 + n}_{filename}": data
            for n, (sid, name, login, files) in enumerate(students or roster(), start=1)
            for filename, data in files.items()}


def moodle_entries(students=None) -> dict[str, bytes]:
    """Moodle's "Download all submissions": <Full Name>_<participant id>_assignsubmission_file_/<file>."""
    return {f"{name}_{sid}_assignsubmission_file_/{filename}": data
            for sid, name, login, files in students or roster() for filename, data in files.items()}


@pytest.mark.parametrize("kind, entries", [("gradescope", gradescope_entries()), ("canvas", canvas_entries()),
                                           ("moodle", moodle_entries())])
def test_lms_exports_map_files_to_students(tmp_path, kind, entries):
    src = open_source(make_zip(tmp_path / "export.zip", entries), tmp_path / "work")
    assert src.kind == kind and not src.refused
    by_id = {s.students[0].id: s for s in src.submissions}
    assert set(by_id) == {PEOPLE[w][0] for w in FILES}
    for who, data in FILES.items():
        sub = by_id[PEOPLE[who][0]]
        assert sub.path.is_file() and sub.path.read_bytes() == data  # graded as the file, as `grade FILE`
        assert sub.key == PEOPLE[who][0]
    if kind == "canvas":
        assert {s.students[0].id for s in src.submissions if s.late} == {"1002"}
        assert by_id["1001"].students[0].name == "lovelaceada"
    else:
        assert by_id["1001"].students[0].name == "Ada Lovelace"
    if kind == "gradescope":
        assert by_id["1001"].students[0].email == "lovelaceada@uni.edu"


def test_gradescope_files_not_named_in_the_metadata_are_listed(tmp_path):
    entries = gradescope_entries()
    entries["assignment_42_export/submission_9999/hw.py"] = b"x = 1\n"
    entries["assignment_42_export/readme.txt"] = b"hi"
    src = open_source(make_zip(tmp_path / "g.zip", entries), tmp_path / "work")
    assert [(r.entry, r.reason) for r in src.ignored] == [
        ("readme.txt", "a file beside the submission folders, so not graded"),
        ("submission_9999", "a folder submission_metadata.yml does not name, so not graded")]


def test_gradescope_group_submission_lists_every_member(tmp_path):
    entries = {"export/submission_1/hw.py": FILES["ada"],
               "export/submission_metadata.yml": b"submission_1:\n  :submitters:\n  - :name: A\n    :sid: '1'\n"
                                                 b"  - :name: B\n    :sid: '2'\n"}
    src = open_source(make_zip(tmp_path / "g.zip", entries), tmp_path / "work")
    (sub,) = src.submissions
    assert [s.id for s in sub.students] == ["1", "2"]


def test_student_with_several_files_gets_a_folder(tmp_path):
    entries = {"Ada Lovelace_1001_assignsubmission_file_/hw.ipynb": b"{}",
               "Ada Lovelace_1001_assignsubmission_file_/data/helper.py": b"x = 1\n",
               "Ada Lovelace_1001_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>"}
    src = open_source(make_zip(tmp_path / "m.zip", entries), tmp_path / "work")
    (sub,) = src.submissions
    assert sub.path.is_dir() and (sub.path / "data" / "helper.py").read_bytes() == b"x = 1\n"
    assert [(r.entry, r.reason) for r in src.ignored] == [
        ("Ada Lovelace_1001_assignsubmission_onlinetext_/onlinetext.html",
         "Moodle onlinetext (not a file submission), so not graded")]


def test_every_entry_is_graded_or_listed_with_a_reason(tmp_path):
    """Upper-case LATE is Canvas's layout too; a notebook matching no layout is graded under a name taken
    from its own, flagged; any other file is listed with why it was not graded."""
    entries = canvas_entries()
    entries["lovelaceada_LATE_1001_67891_ada.py"] = entries.pop("lovelaceada_1001_67891_ada.py")
    entries["Alice Smith mnist.IPYNB"] = b"{}"
    entries["notes.pdf"] = b"%PDF"
    src = open_source(make_zip(tmp_path / "c.zip", entries), tmp_path / "work")
    assert src.kind == "canvas"
    by_id = {s.students[0].id: s for s in src.submissions}
    assert by_id["1001"].late and by_id["1001"].path.read_bytes() == FILES["ada"]
    stray = by_id["stray-Alice_Smith_mnist"]
    assert stray.key == "stray-Alice_Smith_mnist" and "matches no canvas layout" in stray.note
    assert stray.path.name == "Alice Smith mnist.IPYNB"
    assert [(r.entry, r.reason) for r in src.ignored] == [
        ("notes.pdf", "matches no canvas layout and not a .ipynb or .py file, so not graded")]
    assert len(src.submissions) == len(FILES) + 1


def test_folder_source_files_and_subfolders(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.py").write_bytes(FILES["ada"])
    (folder / "ben").mkdir()
    (folder / "ben" / "hw.ipynb").write_text("{}")
    (folder / "ben" / "notes.txt").write_text("notes")
    (folder / "README.md").write_text("not a submission")
    (folder / "evil.py").symlink_to("/etc/passwd")
    src = open_source(folder, tmp_path / "work")
    assert src.kind == "folder"
    assert {s.key: s.path for s in src.submissions} == {"ada": folder / "ada.py", "ben": folder / "ben"}
    assert [(r.entry, r.reason) for r in src.refused] == [("evil.py", "symbolic link")]
    assert [r.entry for r in src.ignored] == ["README.md"] and "not graded" in src.ignored[0].reason


def test_zip_of_a_folder_of_submissions(tmp_path):
    entries = {"hw1/ada.py": FILES["ada"], "hw1/ben.py": FILES["ben"], "__MACOSX/hw1/._ada.py": b"junk"}
    src = open_source(make_zip(tmp_path / "f.zip", entries), tmp_path / "work")
    assert src.kind == "folder" and sorted(s.key for s in src.submissions) == ["ada", "ben"]


def _symlink_entry(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def _lie_about_size(path: Path, name: str, declared: int) -> None:
    """Rewrite the uncompressed size of one entry in both headers: a bomb that lies."""
    data = bytearray(path.read_bytes())
    # (signature, offset of the name's length, offset of the name, offset of the uncompressed size)
    for signature, name_len, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        at = data.find(signature)
        while at != -1:
            n = struct.unpack_from("<H", data, at + name_len)[0]
            if data[at + name_at: at + name_at + n] == name.encode():
                struct.pack_into("<I", data, at + size_at, declared)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def test_malicious_zip_is_refused_entry_by_entry(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("class/ada.py", FILES["ada"])
        zf.writestr("class/../../escaped.py", b"print('out')\n")
        zf.writestr("/tmp/absolute.py", b"print('abs')\n")
        zf.writestr("class/..\\windows.py", b"print('win')\n")
        _symlink_entry(zf, "class/link.py", "/etc/passwd")
        zf.writestr("class/bomb.py", bytes(60 * 2**20))  # 60 MB of zeros: about 60 KB compressed
        zf.writestr("class/ratio.py", bytes(8 * 2**20))  # under the size cap, but 1000:1
        zf.writestr("class/liar.py", bytes(4 * 2**20))
        zf.writestr("class/ben.py", FILES["ben"])
    _lie_about_size(archive, "class/liar.py", 1000)
    src = open_source(archive, tmp_path / "work")
    reasons = {r.entry: r.reason for r in src.refused}
    assert reasons["class/../../escaped.py"] == "path leads outside the archive (..)"
    assert reasons["/tmp/absolute.py"] == "absolute path"
    assert reasons["class/..\\windows.py"] == "path leads outside the archive (..)"
    assert reasons["class/link.py"] == "symbolic link"
    assert "over the 50 MB limit" in reasons["class/bomb.py"]
    assert "zip bomb" in reasons["class/ratio.py"]
    assert "class/liar.py" in reasons  # its header lies about the size: stopped there, then refused
    assert sorted(s.key for s in src.submissions) == ["ada", "ben"]
    assert not (tmp_path / "escaped.py").exists() and not Path("/tmp/absolute.py").exists()
    assert not list((tmp_path / "work").rglob("*link*"))


def test_bytes_are_counted_while_extracting(tmp_path):
    """However the zip reader behaves, an entry yielding more than it declared is cut off and removed."""
    import io

    from grader.batch.source import _copy_entry

    class Lying:
        def open(self, info):
            return io.BytesIO(bytes(5000))

    info = zipfile.ZipInfo("x.py")
    info.file_size = 100
    written, why = _copy_entry(Lying(), info, tmp_path, "x.py", Caps(), 0)
    assert written == 0 and "zip bomb" in why and not (tmp_path / "x.py").exists()


def test_non_utf8_names_are_refused_and_utf8_names_kept(tmp_path):
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.py", b"x = 1\n")
        zf.writestr("caf\xe9.py", b"x = 2\n")  # written with the UTF-8 flag: kept
        zf.writestr("BADNAME1.py", b"x = 3\n")
    # Turn one name into Latin-1 bytes without the UTF-8 flag, as an old Windows zipper would.
    data = archive.read_bytes().replace(b"BADNAME1", b"bad\xe9name")
    archive.write_bytes(data)
    refused = safe_extract(archive, tmp_path / "out")
    assert [r.reason for r in refused] == ["the name is not UTF-8"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["caf\xe9.py", "ok.py"]


def test_caps_on_file_count_and_total_size(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"f{i}.py": b"x = 1\n" * 100 for i in range(10)})
    refused = safe_extract(archive, tmp_path / "a", Caps(max_files=4))
    assert len(refused) == 6 and all("more than 4 files" in r.reason for r in refused)
    refused = safe_extract(archive, tmp_path / "b", Caps(max_total_bytes=2000))
    assert len(list((tmp_path / "b").iterdir())) == 3 and len(refused) == 7


def test_not_a_zip_is_a_usage_error(tmp_path):
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UsageError, match="not a zip"):
        open_source(bad, tmp_path / "work")

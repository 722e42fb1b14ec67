"""Regression tests for the holes the adversarial corpus found (tests/test_adversarial.py runs the corpus itself).

Each test names the mechanism that closes a hole, without a sandbox where it can: fast.
"""

from __future__ import annotations

import os
import struct
import time

import pytest

from grader.errors import InfrastructureError, SubmissionError
from grader.inside import protocol
from grader.load.submission import MAX_STATEMENTS, load_submission
from grader.sandbox.faults import StudentError, redact, type_name

# -- feedback cannot echo hidden inputs, and redaction cannot hang the grader -------------------------

@pytest.mark.parametrize("text", [
    "[0.4963, -0.7682, 0.0885, 0.1320, 0.3074]",          # str(x.tolist())
    "tensor([ 0.4963, -0.7682,  0.0885,  0.1320])",       # repr of a tensor
    "x=0.4963, y=-0.7682",                                # decimals with names stuck to them
    "hex 3efe1b7fbf44a6c8 end",                           # the bytes in hex
    "3efe1b7f bf44a6c8 3db54f6b 3e072b02",                # hex words
    "V_0p496300_m0p768200_0p088500",                      # digits spelled into an identifier
])
def test_redaction_removes_echoed_values(text):
    out = redact(text)
    for secret in ("4963", "7682", "3efe1b7f", "0p4963"):
        assert secret not in out, out


@pytest.mark.parametrize("text", [
    "mat1 and mat2 shapes cannot be multiplied (8x784 and 10x128)",
    "index 10 is out of bounds for dimension 1 with size 10",
    "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 0",
    "cell 3, line 14", "weights.0", "layers.10.weight", "NotImplementedError",
])
def test_redaction_keeps_ordinary_messages(text):
    assert redact(text) == text


def test_redaction_is_linear_on_a_megabyte_of_digits():
    start = time.monotonic()
    for text in ("1" * 2_000_000, "1 " * 1_000_000, "1." * 1_000_000, "9e9" * 500_000):
        assert len(redact(text)) <= 300
    assert time.monotonic() - start < 5  # the old pattern took hours on the first of these


def test_every_field_of_a_student_error_is_redacted():
    err = StudentError("clip()", {"type": "E_0p496300_m0p768200_0p088500", "message": "[0.4963, -0.7682, 0.1, 0.2]",
                                  "where": "cell 0.496300 -0.768200 0.088500 0.132000, line 2"})
    assert "4963" not in str(err) and "7682" not in str(err)
    assert type_name("V_0p496300_m0p768200_0p088500") == "[data removed]" and type_name("MLP") == "MLP"


# -- the channel refuses replies Python cannot even parse ---------------------------------------------

def _payload(head: bytes) -> bytes:
    return struct.pack(">I", len(head)) + head


@pytest.mark.parametrize("head", [
    b'{"id": 1, "ok": true, "tensors": [], "value": ' + b"7" * 5000 + b"}",  # int past Python's digit limit
    b'{"id": 1, "ok": true, "tensors": [], "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'\xff\xfe{"id": 1}',
])
def test_protocol_turns_unparsable_replies_into_protocol_errors(head):
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(_payload(head))


# -- the loader refuses code too large to parse safely in the grader's process -------------------------

def test_a_megabyte_of_statements_is_refused_quickly(write):
    start = time.monotonic()
    with pytest.raises(SubmissionError, match="over the limit"):
        load_submission(write("big.py", "x = 1\n" * 200_000))
    with pytest.raises(SubmissionError, match="top-level statements"):
        load_submission(write("many.py", "x = 1\n" * (MAX_STATEMENTS + 1)))
    many_defs = "def f(:\n" + "def g():\n    pass\n" * 6000  # a syntax error: salvaged block by block
    sub = load_submission(write("salvage.py", many_defs))
    assert sub.chunks == () and "SyntaxError" in sub.notes[0]
    assert time.monotonic() - start < 20


def test_chunks_are_cut_exactly_as_before(write):
    source = "import torch; counter = [0]\nx = 'é'; y = '日本'  ;  z = 3\n@staticmethod\ndef f():\n    return counter\n"
    sub = load_submission(write("s.py", source), keep="all")
    assert [c.code.strip() for c in sub.chunks] == [
        "import torch", "counter = [0]", "x = 'é'", "y = '日本'", "z = 3", "@staticmethod\ndef f():\n    return counter"]
    assert [c.line for c in sub.chunks] == [1, 1, 2, 2, 2, 3]


# -- the grader's own environment cannot change how the hidden suites run ------------------------------

def test_pytest_settings_in_the_environment_do_not_reach_the_hidden_suites(write, tiny_rubric, monkeypatch):
    from grader.pipeline import GradeOptions, grade

    monkeypatch.setenv("PYTEST_ADDOPTS", "--no-such-option -x")
    monkeypatch.setenv("PYTEST_PLUGINS", "no_such_plugin")
    sub = write("good.py", "def mean(x):\n    return x.mean()\ndef clip(x, lo, hi):\n    return x.clamp(lo, hi)\n")
    result = grade(sub, tiny_rubric, GradeOptions(threads=1, gpu="off"))
    assert result.score == 5
    assert os.environ["PYTEST_ADDOPTS"] == "--no-such-option -x" and os.environ["PYTEST_PLUGINS"] == "no_such_plugin"


# -- without namespaces, a grader running as root does not run student code as root -------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="only a root grader drops privilege")
def test_reduced_isolation_as_root_runs_the_worker_as_another_uid(tmp_path, monkeypatch):
    from grader.sandbox import host, process
    from grader.sandbox.spec import REDUCED, SandboxSpec
    from grader.suites.student import Student

    monkeypatch.setattr(process, "reduced_can_drop_root", lambda: True)
    monkeypatch.setattr(host, "reduced_can_drop_root", lambda: True)
    path = tmp_path / "ids.py"
    path.write_text("import os\ndef ids():\n    return [os.getuid(), os.geteuid(), os.getgid()]\n")
    student = Student(load_submission(path, keep="all"), SandboxSpec(isolation="none"),
                      call_timeout=60, total_seconds=120)
    try:
        ids = student.ids()
    except InfrastructureError as exc:
        # Here the interpreter lives where only root may go: that the start is refused shows the
        # worker was no longer root when it tried.
        assert "Permission denied" in str(exc) or "could not start" in str(exc), exc
    else:
        assert 0 not in ids
    finally:
        student.close()
    assert "unprivileged uid" in host.describe_isolation(REDUCED)


# -- workers forked side by side (batch grading) cannot talk to each other ------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="forked workers need root")
def test_forked_workers_have_no_channel_between_them(tmp_path):
    from grader.sandbox.forked import Zygote
    from grader.sandbox.host import bwrap_works
    from grader.sandbox.spec import Limits, SandboxSpec
    from grader.suites.student import Student

    if not bwrap_works():
        pytest.skip("forked workers need bubblewrap")
    listener = '''
import socket, threading
def serve():
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.bind("\\0adversarial-collusion")
    u.listen(1)
    def loop():
        while True:
            c, _ = u.accept()
            c.sendall(b"the answers of another student")
            c.close()
    threading.Thread(target=loop, daemon=True).start()
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", 4242))
        t.listen(1)
    except OSError:
        pass
    return True
'''
    asker = '''
import socket
def ask():
    out = []
    try:
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.connect("\\0adversarial-collusion")
        out.append(u.recv(100).decode())
    except OSError as e:
        out.append(type(e).__name__)
    try:
        socket.create_connection(("127.0.0.1", 4242), timeout=1)
        out.append("connected")
    except OSError as e:
        out.append(type(e).__name__)
    return out
'''
    (tmp_path / "a.py").write_text(listener)
    (tmp_path / "b.py").write_text(asker)
    zygote = Zygote(SandboxSpec(limits=Limits(threads=1)))
    students = [Student(load_submission(tmp_path / f"{n}.py", keep="all"), zygote.spec, call_timeout=20,
                        total_seconds=60, zygote=zygote) for n in "ab"]
    try:
        assert students[0].serve() is True
        answers = students[1].ask()
        assert "the answers of another student" not in answers and "connected" not in answers, answers
    finally:
        for s in students:
            s.close()
        zygote.close()


# -- a uid of its own per grading process, and a way to kill all of it ---------------------------------

def test_two_gradings_alive_at_once_never_share_a_uid():
    import subprocess
    import sys

    code = "import sys, time; from grader.sandbox.uids import claim_uid; print(claim_uid(12345), flush=True); {}"
    holder = subprocess.Popen([sys.executable, "-c", code.format("time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        first = holder.stdout.readline().strip()
        second = subprocess.run([sys.executable, "-c", code.format("")], capture_output=True, text=True,
                                timeout=60).stdout.strip()
        assert first and second and first != second  # the same pid modulo 3000, yet another uid
    finally:
        holder.kill()
        holder.wait()
    again = subprocess.run([sys.executable, "-c", code.format("")], capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == first  # released when its holder ended


@pytest.mark.skipif(os.geteuid() != 0, reason="signalling another uid needs root")
def test_killing_a_uid_reaches_processes_that_left_the_session():
    import shutil
    import subprocess

    from grader.sandbox.uids import kill_uid, sandbox_uid

    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv")
    uid = sandbox_uid()  # held by this process: nobody else runs as it
    marker = f"{os.getpid()}.7305"
    subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "/bin/sh", "-c",
                      f"trap '' HUP TERM; sleep 300 {marker} & sleep 300 {marker}"], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    ps = lambda: subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout  # noqa: E731
    assert marker in ps()
    kill_uid(uid)
    deadline = time.monotonic() + 5
    while marker in ps() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker not in ps()


# -- second round: what a reply may cost the grader is bounded before it is decoded (threat 17) --------

def _frame(body: dict, blob: bytes = b"") -> bytes:
    import json

    head = json.dumps(body).encode()
    return struct.pack(">I", len(head)) + head + blob


def test_table_entries_may_not_overlap_or_leave_the_frame():
    blob = bytes(64)
    ok = _frame({"id": 1, "ok": True, "value": [{"$tensor": 0}, {"$tensor": 1}],
                 "tensors": [["float32", [8], 0, 32, "cpu"], ["float32", [8], 32, 32, "cpu"]]}, blob)
    _, value = protocol.decode(ok)
    assert [t.shape[0] for t in value] == [8, 8]
    for tensors in ([["uint8", [64], 0, 64, "cpu"]] * 2,                          # one blob listed twice
                    [["float32", [8], 32, 32, "cpu"], ["float32", [8], 0, 32, "cpu"]],  # out of order
                    [["uint8", [32], 16, 32, "cpu"], ["uint8", [32], 32, 32, "cpu"]],    # overlapping
                    [["uint8", [8], 60, 8, "cpu"]],                                     # past the end
                    [["uint8", [0], -1, 0, "cpu"]], [["uint8", [4], 0, 4, "cpu"], ["uint8", [0], 2, 0, "cpu"]]):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(_frame({"id": 1, "ok": True, "value": None, "tensors": tensors}, blob))


def test_what_decoding_may_cost_is_refused_before_it_starts():
    start = time.monotonic()
    too_many = [["float32", [0], 0, 0, "cpu"]] * (protocol.MAX_TENSORS + 1)
    with pytest.raises(protocol.ProtocolError, match="tensor table"):
        protocol.decode(_frame({"id": 1, "ok": True, "value": None, "tensors": too_many}))
    with pytest.raises(protocol.ProtocolError, match="over the"):
        protocol.decode(struct.pack(">I", protocol.MAX_HEAD + 1) + b" " * (protocol.MAX_HEAD + 1))
    containers = b'{"id": 1, "ok": true, "value": [' + b"[]," * protocol.MAX_CONTAINERS + b'0], "tensors": []}'
    assert len(containers) < protocol.MAX_HEAD
    with pytest.raises(protocol.ProtocolError, match="too many values"):
        protocol.decode(_payload(containers))
    assert time.monotonic() - start < 2  # the old decoder parsed all of it first


def test_the_worker_cannot_send_what_the_grader_would_refuse():
    import torch

    with pytest.raises(protocol.ProtocolError, match="cannot be sent"):
        protocol.encode({"id": 1, "ok": True}, [torch.zeros(0)] * (protocol.MAX_TENSORS + 1))
    frame = protocol.encode({"id": 1, "ok": True}, [torch.ones(3)] * 10)
    _, value = protocol.decode(frame[4:])
    assert len(value) == 10 and all(float(v.sum()) == 3 for v in value)


def test_closing_asks_for_stats_only_within_the_total_limit():
    from grader.suites.student import Student

    asked = []

    class Conn:
        process = type("P", (), {"output": b"", "output_total": 0})()

        def request(self, op, *a, **kw):
            asked.append((op, kw.get("timeout")))
            return {"peak_rss_mb": float("nan")}

        def close(self):
            pass

    s = Student.__new__(Student)
    s.conn, s.prestarted, s.output, s.output_total, s.worker_peak_mb = Conn(), None, bytearray(), 0, 0.0
    s.deadline = time.monotonic() - 1  # the submission's time is used up
    s.close()
    assert asked == []
    s.conn, s.deadline = Conn(), time.monotonic() + 0.5
    s.close()
    assert asked and asked[0][0] == "stats" and asked[0][1] <= 0.5 and s.worker_peak_mb == 0.0


# -- second round: what staff open is inert (threat 20) -------------------------------------------------

def test_clean_replaces_every_control_character_but_newline_and_tab():
    from grader.inert import clean

    text = "a\x1b]52;c;ZXZpbA==\x07b\x1bc\x9b2J\u202eexe.gnp\u202c\x00\x7f\ud8ff\nline\ttab"
    out = clean(text)
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\u202e" not in out
    assert "\x00" not in out and "\x7f" not in out and "\ud8ff" not in out
    assert out.endswith("\nline\ttab") and "ZXZpbA==" in out
    out.encode("utf-8")  # a lone surrogate (a non-UTF-8 file name) no longer breaks a UTF-8 writer


@pytest.mark.parametrize("cell, shown", [
    ("=HYPERLINK(\"http://x/?\"&E2,\"y\")", "'=HYPERLINK(\"http://x/?\"&E2,\"y\")"),
    ("-1+1+cmd|' /C calc'!A0", "'-1+1+cmd|' /C calc'!A0"), ("+SUM(1,2)", "'+SUM(1,2)"), ("@SUM(1)", "'@SUM(1)"),
    ("\tx", "'\tx"), ("\r=1", "'\ufffd=1"), ("alice", "alice"), ("5", "5"), ("-2.5", "-2.5"), ("+3", "+3"),
])
def test_csv_cells_never_start_a_formula(cell, shown):
    from grader.inert import csv_cell

    assert csv_cell(cell) == shown


def test_feedback_names_no_host_path():
    import sys

    from grader.inert import add_host_path

    data = "/srv/course-data-7311"
    add_host_path(data)
    project = str(__import__("pathlib").Path(__file__).resolve().parent.parent)
    mountinfo = (f"612 600 0:40 {project}/grader/inside/worker.py /opt/grader/worker.py ro - ext4 "
                 f"{data}/MNIST/raw/t10k-images-idx3-ubyte {sys.prefix}/bin/python")
    out = redact(mountinfo, 1000)
    assert project not in out and data not in out and sys.prefix not in out, out
    assert "/opt/grader/worker.py" in out
    assert redact("No such file or directory: '/tmp/x.csv'") == "No such file or directory: '/tmp/x.csv'"
    assert "\x1b" not in redact("\x1b]52;c;ZXZpbA==\x07 boom")


def test_journal_key_takes_names_that_are_not_utf8():
    import os

    from grader.batch.engine import journal_key

    name = os.fsdecode(b"caf\xe9.py")
    assert journal_key("abc", name, "r") != journal_key("abc", os.fsdecode(b"caf\xe8.py"), "r")


def test_lms_import_cells_written_back_are_inert(tmp_path):
    import csv

    from grader.report.gradebook import _write

    rows = [["Student", "ID", "Tiny"], ["=1+2", "12", "4.5"], ["-cmd|x", "13", "-1"], ["Bob", "14", ""]]
    _write(rows, tmp_path / "import.csv", False)
    back = list(csv.reader(open(tmp_path / "import.csv", newline="")))
    assert back[1] == ["'=1+2", "12", "4.5"] and back[2] == ["'-cmd|x", "13", "-1"] and back[3] == ["Bob", "14", ""]


# -- second round: cheap notebooks that are expensive to parse are refused first (threat 22) -----------

@pytest.mark.parametrize("what", ["cells", "values", "depth"])
def test_notebook_shape_is_bounded_before_nbformat(write, what):
    import json

    from grader.load import submission as load

    code = {"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}, "outputs": [], "source": "x = 1"}
    nb = {"cells": [code], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    if what == "cells":
        nb["cells"] = [code] + [{"cell_type": "markdown", "id": f"m{i}", "metadata": {}, "source": ""}
                                for i in range(load.MAX_CELLS)]
    elif what == "values":
        nb["metadata"]["junk"] = [[]] * load.MAX_JSON_VALUES
    else:
        nb["metadata"]["junk"] = json.loads("[" * 100 + "]" * 100)
    start = time.monotonic()
    with pytest.raises(SubmissionError, match="cells|values|nested"):
        load_submission(write("nb.ipynb", json.dumps(nb)))
    assert time.monotonic() - start < 3


def test_a_normal_notebook_with_big_outputs_still_loads(write):
    import json

    text = ["tensor([0.1, 0.2, 0.3, 0.4])\n"] * 200_000  # commas and brackets inside strings are not values
    nb = {"cells": [{"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {}, "source": "def f():\n    return 1",
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    sub = load_submission(write("big.ipynb", json.dumps(nb)))
    assert len(sub.chunks) == 1

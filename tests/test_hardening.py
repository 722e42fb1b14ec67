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

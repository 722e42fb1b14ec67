"""The sandbox boundary: what student code can see, reach and leave behind, and how calls fail."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
import torch

from conftest import PROJECT
from grader.inside.protocol import NonPlainTensor
from grader.sandbox.faults import (
    CallTimeout,
    ProtocolViolation,
    StudentError,
    WorkerCrashed,
)
from grader.sandbox.host import bwrap_works, isolation_level
from grader.sandbox.spec import FULL, SandboxSpec
from grader.suites.student import Remote, type_of

PROBE = '''
import os, socket, subprocess, time
def can_read(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False
def listdir(path):
    try:
        return os.listdir(path)
    except OSError as e:
        return type(e).__name__
def connect(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        return "connected"
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()
def ids():
    return [os.getuid(), os.geteuid(), os.getgid()]
def env():
    return dict(os.environ)
def spawn_orphan(marker):
    # A grandchild in its own session that would outlive a naive kill.
    subprocess.Popen(["/bin/sh", "-c", f"setsid sleep 300 {marker} &"], start_new_session=True)
    return True
def shout(n):
    import sys
    for _ in range(n):
        sys.stdout.write("x" * 1000 + "\\n")
    return n
def garbage():
    # Find the grader's reply pipe among open descriptors and write a bogus frame into it.
    for fd in range(3, 64):
        try:
            os.write(fd, b"\\x00\\x00\\x00\\x08garbage!")
        except OSError:
            pass
    return 1
def spin():
    while True:
        try:
            time.sleep(0.01)
        except BaseException:
            pass
def die():
    os._exit(0)
class Sneaky(__import__("torch").Tensor):
    pass
def fake_tensor():
    import torch
    return torch.ones(3).as_subclass(Sneaky)
class Box:
    def __init__(self, v):
        self.v = v
    def get(self):
        return self.v
def mean(x):
    return x.mean()
'''

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot run on this host")


@needs_bwrap
def test_instructor_files_and_test_labels_are_invisible(sandboxed, data_dir):
    s = sandboxed(PROBE, mnist_raw_dir=os.path.join(data_dir, "MNIST", "raw"))
    for path in [PROJECT / "rubrics" / "mnist_mlp" / "rubric.toml",
                 PROJECT / "reference_solution" / "mnist_mlp" / "mnist_mlp.ipynb",
                 PROJECT / "grader" / "pipeline.py",
                 os.path.join(data_dir, "MNIST", "raw", "t10k-labels-idx1-ubyte"),
                 "/data/MNIST/raw/t10k-labels-idx1-ubyte", "/etc/shadow", "/root/.bashrc"]:
        assert s.can_read(str(path)) is False, path
    # The project folder exists inside only as the path to the interpreter's virtual environment.
    listing = s.listdir(str(PROJECT))
    assert listing in ("FileNotFoundError", "PermissionError") or set(listing) <= {".venv"}
    assert sorted(s.listdir("/data/MNIST/raw")) == [
        "t10k-images-idx3-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    assert s.can_read("/data/MNIST/raw/train-images-idx3-ubyte") is True


@needs_bwrap
def test_host_loopback_listener_is_unreachable(sandboxed):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        s = sandboxed(PROBE)
        assert s.connect(port) != "connected"
    finally:
        server.close()


@needs_bwrap
def test_runs_as_unprivileged_uid_with_scrubbed_environment(sandboxed):
    os.environ["GRADER_SECRET_TEST"] = "x"
    try:
        s = sandboxed(PROBE)
        uid, euid, _ = s.ids()
        if os.geteuid() == 0:
            assert uid != 0 and euid != 0
        assert "GRADER_SECRET_TEST" not in s.env()
    finally:
        del os.environ["GRADER_SECRET_TEST"]


@needs_bwrap
def test_nothing_left_running_after_close(sandboxed):
    marker = f"{os.getpid()}{int(time.time())}"
    s = sandboxed(PROBE)
    assert s.spawn_orphan(marker) is True
    time.sleep(0.5)
    s.close()
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert marker not in ps


def test_output_is_capped_and_drained(sandboxed):
    s = sandboxed(PROBE, timeout=60)
    assert s.shout(200_000) == 200_000  # 200 MB of prints neither block nor fill memory
    s.close()
    assert len(s.output) <= 65536 and s.output_total >= 200_000_000


def test_timeout_then_the_next_call_works(sandboxed):
    s = sandboxed(PROBE, timeout=2)
    with pytest.raises(CallTimeout):
        s.spin()
    assert float(s.mean(torch.tensor([1.0, 3.0]))) == 2.0


def test_exit_is_a_crash_not_a_pass(sandboxed):
    s = sandboxed(PROBE)
    with pytest.raises(WorkerCrashed, match="exited with status 0"):
        s.die()
    assert float(s.mean(torch.tensor([2.0]))) == 2.0


def test_garbage_on_the_channel_is_rejected(sandboxed):
    s = sandboxed(PROBE)
    with pytest.raises(ProtocolViolation):
        s.garbage()
    assert float(s.mean(torch.tensor([2.0]))) == 2.0


def test_tensor_subclass_never_reaches_comparisons(sandboxed):
    s = sandboxed(PROBE)
    got = s.fake_tensor()
    assert isinstance(got, NonPlainTensor) and not isinstance(got, torch.Tensor)


def test_objects_stay_behind_handles(sandboxed):
    s = sandboxed(PROBE)
    box = s.Box(torch.arange(3))
    assert isinstance(box, Remote) and type_of(box) == "Box"
    assert torch.equal(box.get(), torch.arange(3))


def test_student_exceptions_name_the_line(sandboxed):
    s = sandboxed("def f(x):\n    return x / undefined_name\n")
    with pytest.raises(StudentError) as e:
        s.f(1)
    assert "NameError" in str(e.value) and "line 2" in str(e.value)


def test_reduced_isolation_still_grades(sandboxed):
    s = sandboxed(PROBE, isolation="none")
    assert float(s.mean(torch.tensor([1.0, 2.0]))) == 1.5
    assert isolation_level(SandboxSpec(isolation="none")) != FULL


# -- workers forked from a template sandbox (batch grading as root) ---------------------------------

needs_zygote = pytest.mark.skipif(not bwrap_works() or os.geteuid() != 0,
                                  reason="forked workers need bubblewrap and root")


@pytest.fixture(scope="module")
def zygote():
    from grader.sandbox.forked import Zygote
    from grader.sandbox.spec import Limits

    z = Zygote(SandboxSpec(limits=Limits(threads=1)))
    yield z
    z.close()


def _forked(zygote, source, tmp_path, name="sub.py"):
    from grader.load.submission import load_submission
    from grader.suites.student import Student

    path = tmp_path / name
    path.write_text(source)
    return Student(load_submission(path, keep="all"), zygote.spec, call_timeout=10, total_seconds=60,
                   zygote=zygote)


@needs_zygote
def test_forked_worker_keeps_the_boundary(zygote, tmp_path):
    s = _forked(zygote, PROBE, tmp_path)
    try:
        uid, euid, _ = s.ids()
        assert uid != 0 and euid != 0
        assert s.can_read(str(PROJECT / "rubrics" / "mnist_mlp" / "rubric.toml")) is False
        assert s.listdir("/proc") and "1" in s.listdir("/proc")  # its own PID namespace
        assert float(s.mean(torch.tensor([1.0, 3.0]))) == 2.0
    finally:
        s.close()


@needs_zygote
def test_forked_workers_share_nothing_and_leave_nothing(zygote, tmp_path):
    marker = f"z{os.getpid()}{int(time.time())}"
    leaver = PROBE + f'''
def stash():
    open("/tmp/stash", "w").write("secret")
    open("/dev/shm/stash", "w").write("secret")
    return spawn_orphan("{marker}")
'''
    a = _forked(zygote, leaver, tmp_path, "a.py")
    assert a.stash() is True
    a.close()
    b = _forked(zygote, PROBE, tmp_path, "b.py")
    try:
        assert b.can_read("/tmp/stash") is False and b.can_read("/dev/shm/stash") is False
    finally:
        b.close()
    time.sleep(0.5)
    assert marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


@needs_zygote
def test_forked_worker_crash_and_timeout_are_results(zygote, tmp_path):
    s = _forked(zygote, PROBE, tmp_path)
    try:
        with pytest.raises(WorkerCrashed, match="exited with status 0"):
            s.die()
        with pytest.raises(CallTimeout):
            s.request("call", [[], {}], label="spin()", timeout=2, target="spin")
        assert float(s.mean(torch.tensor([2.0]))) == 2.0
    finally:
        s.close()

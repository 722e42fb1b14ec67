"""Start the worker in a sandbox: bubblewrap namespaces, an unprivileged uid, rlimits, a scrubbed env."""

from __future__ import annotations

import fcntl
import functools
import glob
import json
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from grader.errors import InfrastructureError

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_FILES = ("worker.py", "protocol.py", "zygote.py")
INSIDE_LIB = "/opt/grader"
OUTPUT_CAP = 64 * 1024

FULL = "full"
REDUCED = "reduced"


@dataclass(frozen=True)
class Limits:
    """What one worker may use; the defaults suit the MNIST assignment on a 2-core laptop."""

    address_space_mb: int = 6144  # `import torch` alone maps about 3.2 GB; not applied with CUDA
    data_mb: int = 3072  # RLIMIT_DATA: heap and private mappings, where tensors live
    cpu_seconds: int = 900
    processes: int = 64
    file_mb: int = 64
    open_files: int = 256
    scratch_mb: int = 64
    threads: int = 1


@dataclass(frozen=True)
class SandboxSpec:
    """What to make visible inside: nothing of the grader but its worker and what is listed here."""

    limits: Limits = Limits()
    mnist_raw_dir: str | None = None  # train images and labels, test images; never test labels
    submission_dir: str | None = None
    gpu: bool = False
    isolation: str = "auto"  # "auto" | "bwrap" | "none"

    def __post_init__(self):
        # The sandbox starts in another working directory: a relative folder would name nothing there.
        for name in ("mnist_raw_dir", "submission_dir"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, os.path.abspath(value))


@functools.lru_cache(maxsize=None)
def bwrap_works() -> bool:
    """True when bubblewrap exists and can create the namespaces on this host."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        r = subprocess.run(
            [exe, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--unshare-ipc",
             "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def isolation_level(spec: SandboxSpec) -> str:
    if spec.isolation == "none":
        return REDUCED
    if bwrap_works():
        return FULL
    if spec.isolation == "bwrap":
        raise InfrastructureError(
            "bubblewrap is required (--isolation bwrap) but cannot run here; install the Debian "
            "package 'bubblewrap' and make sure user namespaces are enabled")
    return REDUCED


def describe_isolation(level: str) -> str:
    if level == FULL:
        return ("full: bubblewrap sandbox (own mount, PID, network and IPC namespaces, "
                f"{'unprivileged uid, ' if os.geteuid() == 0 else ''}rlimits, no network)")
    if os.geteuid() == 0 and not reduced_can_drop_root():
        return ("REDUCED ISOLATION: no namespaces on this host, and the submission ran AS ROOT in a plain "
                "subprocess (the Python installation is not readable by other users, so it could not "
                "run as an unprivileged uid): it could read and change anything on this machine")
    who = "as an unprivileged uid " if os.geteuid() == 0 else ""
    return ("REDUCED ISOLATION: no namespaces on this host; the submission ran in a plain "
            f"subprocess {who}with rlimits only and could read files this user can read")


@functools.lru_cache(maxsize=None)
def reduced_can_drop_root() -> bool:
    """Without namespaces, as root: whether the worker can still run as an unprivileged uid, that is
    whether a uid of no group can reach and read the interpreter, the standard library, torch and
    the worker's files (a Python under /root, mode 0700, cannot be run by anyone else)."""
    import importlib.util

    torch = importlib.util.find_spec("torch")
    paths = [sys.executable, os.__file__, os.path.join(HERE, "worker.py"), os.path.join(HERE, "protocol.py")]
    paths += [torch.origin] if torch and torch.origin else []
    try:
        for path in map(os.path.realpath, paths):
            folder = os.path.dirname(path)
            while True:
                if not os.stat(folder).st_mode & stat.S_IXOTH:
                    return False
                if folder == os.path.dirname(folder):
                    break
                folder = os.path.dirname(folder)
            if not os.stat(path).st_mode & stat.S_IROTH:
                return False
        return bool(os.stat(os.path.realpath(sys.executable)).st_mode & stat.S_IXOTH)
    except OSError:
        return False


class _Output:
    """Drains a worker's stdout and stderr: keeps the first OUTPUT_CAP bytes for instructors and
    reads and drops the rest, so a gigabyte of prints neither blocks the worker nor fills memory."""

    def __init__(self, fd: int):
        self.output = bytearray()
        self.output_total = 0
        self._stream = os.fdopen(fd, "rb", buffering=0)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while chunk := self._stream.read(65536):
                self.output_total += len(chunk)
                room = OUTPUT_CAP - len(self.output)
                if room > 0:
                    self.output += chunk[:room]
        except (OSError, ValueError):
            pass

    def join(self) -> None:
        self._thread.join(timeout=2)


def describe_exit(code: int | None) -> str:
    """An exit status in words; negative or above 128 means a signal."""
    if code is None:
        return "still running"
    if code < 0 or code > 128:
        num = -code if code < 0 else code - 128
        sig = signal.Signals(num).name if num in signal.Signals._value2member_map_ else str(num)
        return f"killed by signal {sig}" + (" (memory or CPU limit?)" if sig in ("SIGKILL", "SIGXCPU") else "")
    return f"exited with status {code}"


class WorkerProcess:
    """A running sandboxed worker: request and reply pipes, captured output, and a kill switch."""

    def __init__(self, spec: SandboxSpec):
        self.level = isolation_level(spec)
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        env = _environment(spec, rep_w, self.level)
        cmd = _command(spec, self.level)
        nproc = spec.limits.processes + (0 if os.geteuid() == 0 else _tasks_of_user())
        # Without namespaces the worker is a plain child: as root, it must not stay root (rlimits
        # on processes do not bind root, and root can rewrite the results and the grader itself).
        drop = _sandbox_uid() if self.level != FULL and os.geteuid() == 0 and reduced_can_drop_root() else None
        self._uid = drop
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=req_r, stdout=out_w, stderr=out_w,
                pass_fds=(rep_w,), env=env, cwd="/", start_new_session=True,
                preexec_fn=functools.partial(_set_limits, spec.limits, nproc, not spec.gpu, drop),
            )
        except OSError as exc:
            os.close(out_r)
            raise InfrastructureError(f"could not start the sandbox: {exc}") from None
        finally:
            os.close(req_r)
            os.close(rep_w)
            os.close(out_w)
        self._out = _Output(out_r)

    @property
    def output(self) -> bytearray:
        return self._out.output

    @property
    def output_total(self) -> int:
        return self._out.output_total

    def wait(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass

    def kill(self) -> None:
        """Kill the worker and everything it started (the PID namespace dies with its init; without
        one, everything of the worker's own uid, setsid() escapees included)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        if self._uid is not None:
            _kill_uid(self._uid)
        self.wait(10)
        _close(self.req_w, self.rep_r)
        self._out.join()

    def exit_description(self) -> str:
        return describe_exit(self.proc.poll())


def _close(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class Zygote:
    """A sandbox holding a template worker with torch imported; forks a fresh worker per submission.

    The forked worker gets its own PID, mount and IPC namespaces, /tmp, /dev/shm and /proc, an
    unprivileged uid, no capabilities and the same rlimits as a fresh sandbox (grader/zygote.py),
    without paying for a new interpreter and `import torch`. Needs root; callers check `usable`.
    """

    def __init__(self, spec: SandboxSpec, *, wait: bool = True):
        """Start the template; with wait=False the caller does other work and then calls wait_ready()."""
        self.spec = spec
        self.level = FULL
        self._lock = threading.Lock()
        fd, self._lockfile = tempfile.mkstemp(prefix="grader-zygote-", suffix=".lock")
        os.close(fd)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.ctl = ours
        env = _environment(spec, 0, FULL)
        env["GRADER_ZYGOTE_FD"] = str(theirs.fileno())
        cmd = _command(spec, FULL, zygote=True)
        out_r, out_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=(theirs.fileno(),),
                env=env, cwd="/", start_new_session=True,
                preexec_fn=functools.partial(_set_limits, spec.limits, spec.limits.processes, True))
        except OSError as exc:
            raise InfrastructureError(f"could not start the sandbox template: {exc}") from None
        finally:
            theirs.close()
            os.close(out_w)
        self._out = _Output(out_r)
        self._ready = False
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Block until the template has imported torch and says it is ready (once)."""
        if self._ready:
            return
        self.ctl.settimeout(120)
        try:
            hello = json.loads(self.ctl.recv(65536) or b"{}")
        except (OSError, ValueError):
            hello = {}
        if not hello.get("ready"):
            self.close()
            tail = bytes(self._out.output[-2000:]).decode("utf-8", "replace")
            raise InfrastructureError(f"the sandbox template did not start\n{tail}")
        self.ctl.settimeout(30)
        self._ready = True

    @staticmethod
    def usable(spec: SandboxSpec) -> bool:
        """Forking needs root (to set up each worker's namespaces) and plain CPU work."""
        return os.geteuid() == 0 and not spec.gpu and not spec.submission_dir and isolation_level(spec) == FULL

    def call(self, message: dict, fds: list[int] = ()) -> dict:
        # Forked grading processes of a batch share this socket: a file lock keeps each request and
        # its reply together across processes, the thread lock within one.
        with self._lock, open(self._lockfile, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                socket.send_fds(self.ctl, [json.dumps(message).encode()], list(fds))
                reply = json.loads(self.ctl.recv(65536) or b"{}")
            except (OSError, ValueError) as exc:
                raise InfrastructureError(f"the sandbox template stopped answering: {exc}") from None
        if "error" in reply:
            raise InfrastructureError(f"the sandbox template failed: {reply['error']}")
        return reply

    def spawn(self, spec: SandboxSpec) -> "ForkedWorker":
        return ForkedWorker(self, spec)

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.ctl.close()
        self._out.join()
        try:
            os.unlink(self._lockfile)
        except OSError:
            pass


class ForkedWorker:
    """A worker forked by the Zygote: the same interface as WorkerProcess."""

    def __init__(self, zygote: Zygote, spec: SandboxSpec):
        self.zygote, self.level = zygote, FULL
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        limits = spec.limits
        mb = 1024 * 1024
        config = {
            "op": "spawn", "uid": _sandbox_uid(), "threads": limits.threads,
            "scratch_bytes": limits.scratch_mb * mb,
            "limits": {"as": limits.address_space_mb * mb, "data": limits.data_mb * mb,
                       "cpu": limits.cpu_seconds, "fsize": limits.file_mb * mb, "nofile": limits.open_files,
                       "nproc": limits.processes, "core": 0},
        }
        try:
            self.pid = int(zygote.call(config, [req_r, rep_w, out_w])["pid"])
        finally:
            _close(req_r, rep_w, out_w)
        self._out = _Output(out_r)
        self._exit: int | None = None

    output = WorkerProcess.output
    output_total = WorkerProcess.output_total

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._status() is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _status(self) -> int | None:
        if self._exit is None:
            try:
                self._exit = self.zygote.call({"op": "status", "pid": self.pid}).get("exit")
            except InfrastructureError:
                return None
        return self._exit

    def kill(self) -> None:
        try:
            self.zygote.call({"op": "kill", "pid": self.pid})
        except InfrastructureError:
            pass
        self.wait(5)
        _close(self.req_w, self.rep_r)
        self._out.join()

    def exit_description(self) -> str:
        return describe_exit(self._status())


def _tasks_of_user() -> int:
    # RLIMIT_NPROC counts every task of the uid; without a uid of its own the worker shares it.
    uid, count = os.getuid(), 0
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            count += 1
                        break
        except OSError:
            continue
    return count * 4 + 256  # threads count too; leave room for the user's own


def _set_limits(limits: Limits, nproc: int, cap_address_space: bool, uid: int | None = None) -> None:
    mb = 1024 * 1024
    if limits.address_space_mb and cap_address_space:  # CUDA reserves far more address space
        resource.setrlimit(resource.RLIMIT_AS, (limits.address_space_mb * mb,) * 2)
    # CUDA's context and allocator map several GB of private memory: give the GPU section room.
    data = limits.data_mb if cap_address_space else max(limits.data_mb, 16384)
    resource.setrlimit(resource.RLIMIT_DATA, (data * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if uid is not None:  # from root to a uid of its own: no groups, no capabilities left
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


UID_BASE, UID_COUNT = 61000, 3000
_UIDS: dict[int, int] = {}  # grading process -> the uid it holds (a lock file open for its life)


def _sandbox_uid() -> int:
    """A uid of its own per grading process, held with a lock for the process's life: two gradings
    alive at once never share one (a shared uid shares the process limit, and without namespaces
    the grader kills every process of the uid when it kills the worker)."""
    pid = os.getpid()
    if pid not in _UIDS:
        _UIDS[pid] = _claim_uid(pid)
    return _UIDS[pid]


def _claim_uid(pid: int) -> int:
    folder = os.path.join(tempfile.gettempdir(), f"mlgrader-uids-{os.geteuid()}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
        if st.st_uid != os.geteuid() or not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o077:
            raise OSError("not a private folder")
        for n in range(UID_COUNT):
            uid = UID_BASE + (pid + n) % UID_COUNT
            fd = os.open(os.path.join(folder, str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return uid  # fd stays open: the lock lasts as long as this process
            except OSError:
                os.close(fd)
    except OSError:
        pass
    return UID_BASE + pid % UID_COUNT


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of a uid, sent as that uid (what a PID namespace does where there is none)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(50):  # again while processes it just missed were still forking
                os.kill(-1, signal.SIGKILL)
        except BaseException:
            pass
        finally:
            os._exit(0)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _environment(spec: SandboxSpec, rep_fd: int, level: str) -> dict:
    threads = str(spec.limits.threads)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
        # The sandbox uid has no passwd entry; getpass.getuser() (torch's compile caches call it
        # when an optimizer first steps) reads these before it would fail on pwd.getpwuid().
        "USER": "student", "LOGNAME": "student",
        "MPLBACKEND": "Agg", "GRADER_REPLY_FD": str(rep_fd), "GRADER_TORCH_THREADS": threads,
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
    }
    if not spec.gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    else:
        # Where the driver's libraries are found through these (container images often do).
        for var in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
                    "NVIDIA_DRIVER_CAPABILITIES"):
            if var in os.environ:
                env[var] = os.environ[var]
    if spec.mnist_raw_dir:
        env["GRADER_MNIST_DIR"] = "/data/MNIST/raw" if level == FULL else spec.mnist_raw_dir
    if spec.submission_dir:
        env["GRADER_SUBMISSION_DIR"] = "/submission" if level == FULL else spec.submission_dir
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # host CPU quirks, see the env notes
        if var in os.environ:
            env[var] = os.environ[var]
    return env


def _python_roots() -> list[str]:
    import importlib.util

    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    spec = importlib.util.find_spec("torch")  # found, not imported: the grader starts faster
    if spec and spec.origin:
        roots.add(os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))))
    project = os.path.dirname(HERE)
    # Never the project itself: only the installed interpreter and libraries go inside.
    return sorted(r for r in roots if not (project + os.sep).startswith(r + os.sep) and r != project)


def _parents(path: str, made: set[str]) -> list[str]:
    """Directories above a bind target, world-traversable (bwrap makes them 0700 by default)."""
    out: list[str] = []
    parent = os.path.dirname(path)
    chain = []
    while parent not in made and parent != "/":
        chain.append(parent)
        parent = os.path.dirname(parent)
    for d in reversed(chain):
        out += ["--perms", "0755", "--dir", d]
        made.add(d)
    return out


def _command(spec: SandboxSpec, level: str, *, zygote: bool = False) -> list[str]:
    python = [sys.executable, "-I"]
    if level != FULL:
        return python + [os.path.join(HERE, "worker.py")]
    cmd = [shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox",
           "--ro-bind", "/usr", "/usr"]
    for link in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(link):
            cmd += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            cmd += ["--ro-bind", link, link]
    for path in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
                 "/etc/localtime", "/etc/nsswitch.conf"):
        cmd += ["--ro-bind-try", path, path]
    # The scratch tmpfs first: an interpreter that lives under /tmp (a CI clone) is bound on top.
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(spec.limits.scratch_mb * 1024 * 1024),
            "--perms", "1777", "--tmpfs", "/tmp"]
    made: set[str] = {"/", "/usr", "/etc", "/tmp", "/proc", "/dev"}
    for root in _python_roots():
        cmd += _parents(root, made) + ["--ro-bind", root, root]
    for name in WORKER_FILES:
        cmd += _parents(f"{INSIDE_LIB}/{name}", made) + ["--ro-bind", os.path.join(HERE, name), f"{INSIDE_LIB}/{name}"]
    if spec.mnist_raw_dir:
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
            inside = f"/data/MNIST/raw/{name}"
            cmd += _parents(inside, made) + ["--ro-bind", os.path.join(spec.mnist_raw_dir, name), inside]
    if spec.submission_dir:
        cmd += ["--ro-bind", spec.submission_dir, "/submission"]
    if spec.gpu:
        # CUDA needs the NVIDIA device nodes and sysfs (see shared/docs/gpu.md).
        for node in sorted(glob.glob("/dev/nvidia*")):
            cmd += ["--dev-bind", node, node]
        cmd += ["--ro-bind-try", "/sys", "/sys"]
    cmd += ["--chdir", "/tmp", "--"]
    if zygote:  # stays root inside the namespaces: it drops privilege per forked worker
        return cmd + python + [f"{INSIDE_LIB}/zygote.py"]
    if os.geteuid() == 0:
        uid = str(_sandbox_uid())
        cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return cmd + python + [f"{INSIDE_LIB}/worker.py"]

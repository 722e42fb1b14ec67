"""Start the worker in a sandbox: bubblewrap namespaces, an unprivileged uid, rlimits, a scrubbed env."""

from __future__ import annotations

import functools
import glob
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

from grader.errors import InfrastructureError

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_FILES = ("worker.py", "protocol.py")
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
    return ("REDUCED ISOLATION: no namespaces on this host; the submission ran in a plain "
            "subprocess with rlimits only and could read files this user can read")


class WorkerProcess:
    """A running sandboxed worker: request and reply pipes, captured output, and a kill switch."""

    def __init__(self, spec: SandboxSpec):
        self.level = isolation_level(spec)
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        env = _environment(spec, rep_w, self.level)
        cmd = _command(spec, self.level)
        nproc = spec.limits.processes + (0 if os.geteuid() == 0 else _tasks_of_user())
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=req_r, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(rep_w,), env=env, cwd="/", start_new_session=True,
                preexec_fn=functools.partial(_set_limits, spec.limits, nproc, not spec.gpu),
            )
        except OSError as exc:
            raise InfrastructureError(f"could not start the sandbox: {exc}") from None
        finally:
            os.close(req_r)
            os.close(rep_w)
        self.output = bytearray()
        self.output_total = 0
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()

    def _drain_output(self) -> None:
        # Keep the first OUTPUT_CAP bytes for instructors; read and drop the rest so a gigabyte of
        # prints neither blocks the worker nor fills the grader's memory.
        stream = self.proc.stdout
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            self.output_total += len(chunk)
            room = OUTPUT_CAP - len(self.output)
            if room > 0:
                self.output += chunk[:room]

    def kill(self) -> None:
        """Kill the worker and everything it started (the PID namespace dies with its init)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.req_w, self.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._drain.join(timeout=2)

    def exit_description(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "still running"
        if code < 0:
            sig = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            return f"killed by signal {sig}" + (" (memory or CPU limit?)" if sig in ("SIGKILL", "SIGXCPU") else "")
        return f"exited with status {code}"


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


def _set_limits(limits: Limits, nproc: int, cap_address_space: bool) -> None:
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


def _sandbox_uid() -> int:
    # A uid of its own per grader process, so parallel workers do not share a process limit.
    return 61000 + os.getpid() % 3000


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


def _command(spec: SandboxSpec, level: str) -> list[str]:
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
    if os.geteuid() == 0:
        uid = str(_sandbox_uid())
        cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return cmd + python + [f"{INSIDE_LIB}/worker.py"]

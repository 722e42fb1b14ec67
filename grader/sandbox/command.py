"""The worker's command line and environment: the bwrap binds, the scrubbed env, the rlimits set before exec."""

from __future__ import annotations

import glob
import os
import resource
import shutil
import sys

from grader.sandbox.spec import FULL, Limits, SandboxSpec
from grader.sandbox.uids import sandbox_uid

INSIDE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inside")


WORKER_FILES = ("worker.py", "protocol.py", "zygote.py")


INSIDE_LIB = "/opt/grader"


def set_limits(limits: Limits, nproc: int, cap_address_space: bool, uid: int | None = None) -> None:
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
    _die_with_parent()


def _die_with_parent() -> None:
    """SIGKILL when the grading process ends, however it ends (bwrap's --die-with-parent does the same;
    this covers the plain subprocess). Set after the uid change, which would clear it."""
    if _PRCTL is not None:
        _PRCTL(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def _libc_prctl():
    # Looked up here, in the parent: nothing may be imported between fork and exec.
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def environment(spec: SandboxSpec, rep_fd: int, level: str) -> dict:
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


def python_roots() -> list[str]:
    import importlib.util

    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    spec = importlib.util.find_spec("torch")  # found, not imported: the grader starts faster
    if spec and spec.origin:
        roots.add(os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))))
    project = os.path.dirname(os.path.dirname(INSIDE_DIR))
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


def worker_command(spec: SandboxSpec, level: str, *, zygote: bool = False) -> list[str]:
    python = [sys.executable, "-I"]
    if level != FULL:
        return python + [os.path.join(INSIDE_DIR, "worker.py")]
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
    for root in python_roots():
        cmd += _parents(root, made) + ["--ro-bind", root, root]
    for name in WORKER_FILES:
        cmd += _parents(f"{INSIDE_LIB}/{name}", made) + ["--ro-bind", os.path.join(INSIDE_DIR, name), f"{INSIDE_LIB}/{name}"]
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
        uid = str(sandbox_uid())
        cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return cmd + python + [f"{INSIDE_LIB}/worker.py"]

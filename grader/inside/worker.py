"""Sandboxed worker: runs the submission's code and answers the grader's calls with plain values.

Started by grader.sandbox inside the sandbox as `python -I worker.py`; requests arrive on fd 0,
replies leave on the fd named by GRADER_REPLY_FD. Everything this process computes is untrusted:
the grader validates every reply and judges nothing here.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

THREADS = os.environ.get("GRADER_TORCH_THREADS", "1")
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = THREADS

import protocol  # noqa: E402
import torch  # noqa: E402
from torch.overrides import TorchFunctionMode, resolve_name  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

MESSAGE_CAP = 500

# Modules torch imports on first use, at a cost of seconds each time a worker meets them: the first
# optimizer imports torch._dynamo (about 2 s on one core), the first autograd.grad with a cotangent
# imports sympy through symbolic_shapes (0.7 s). A worker imports them before any student code asks.
WARM_IMPORTS = ("torch.fx.experimental.symbolic_shapes", "torch._dynamo")


def warm_imports() -> None:
    """Import WARM_IMPORTS; a module that fails here fails again, visibly, where student code uses it."""
    import importlib

    for name in WARM_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception:
            pass


# Known-good versions of the contract's functions, swapped in (by code object) for the duration of a
# request that names them: a check that grades train() or MLP.forward must not also charge a broken
# mle_loss or relu (one mistake costs its own items). A formula is no secret; the reference file never
# enters the sandbox. No globals: the code runs with the student's module as its globals.
KNOWN_GOOD_SOURCE = """
def sigmoid(x, *_a, **_k):
    return x.sigmoid()
def tanh(x, *_a, **_k):
    return x.tanh()
def relu(x, *_a, **_k):
    return x.clamp(min=0)
def leaky_relu(x, *_a, **_k):
    return x.where(x >= 0, 0.1 * x)
def linear(x, W, b, *_a, **_k):
    return x @ W + b
def softmax(logits, *_a, **_k):
    return logits.softmax(-1)
def predict(logits, *_a, **_k):
    return logits.argmax(-1)
def accuracy(logits, targets, *_a, **_k):
    return (logits.argmax(-1) == targets).double().mean().item()
def mle_loss(logits, targets, *_a, _grader_map=None, _grader_log=None, **_k):
    if _grader_log is not None:
        _grader_log.append(int(logits.shape[0]))
    if _grader_map is not None:
        targets = _grader_map.to(targets.device)[targets.long()]
    picked = logits.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    return (logits.logsumexp(-1) - picked).mean()
"""


def _compile_known_good(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "<grader known-good>", "exec"), namespace)
    return {k: v for k, v in namespace.items() if isinstance(v, types.FunctionType)}


KNOWN_GOOD = _compile_known_good(KNOWN_GOOD_SOURCE)
# The same for a student function that is a bound method of a helper object (relu = _acts.relu).
KNOWN_GOOD_METHODS = _compile_known_good(re.sub(r"def (\w+)\(", r"def \1(_self, ", KNOWN_GOOD_SOURCE))


@contextlib.contextmanager
def _known_good(namespace: dict, names, label_map, log: list):
    """Run with the student's functions in `names` computing the known-good values, however the code
    reaches them (a dict of activations, an alias, a bound method): their code objects are swapped
    and restored. A function with a closure, a builtin or a callable object is left as it is."""
    swapped = []
    try:
        for name in names:
            obj = namespace.get(str(name))
            fn = obj.__func__ if isinstance(obj, types.MethodType) else obj
            good = (KNOWN_GOOD_METHODS if fn is not obj else KNOWN_GOOD).get(str(name))
            if good is None or not isinstance(fn, types.FunctionType) or fn.__code__.co_freevars:
                continue
            swapped.append((fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__))
            extra = {}
            if name == "mle_loss":
                extra = {"_grader_log": log,
                         "_grader_map": None if label_map is None else torch.tensor(label_map, dtype=torch.int64)}
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = good.__code__, None, extra or None
        yield
    finally:
        for fn, code, defaults, kwdefaults in reversed(swapped):
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults


class GraderMLP(torch.nn.Module):
    """The grader's own relu MLP in the contract's layout: train() checks hand it to the student's
    train(), so that they grade train() and nothing of the student's MLP."""

    def __init__(self, weights: dict):
        super().__init__()
        n = len(weights) // 2
        self.sizes = tuple([weights["weights.0"].shape[0]] + [weights[f"weights.{l}"].shape[1] for l in range(n)])
        self.activation = "relu"
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(weights[f"weights.{l}"].clone()) for l in range(n)])
        self.biases = torch.nn.ParameterList([torch.nn.Parameter(weights[f"biases.{l}"].clone()) for l in range(n)])

    def forward(self, x):
        last = len(self.weights) - 1
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ W + b
            if l < last:
                x = x.clamp(min=0)
        return x


def contract_tensors(model, layers: int | None) -> dict:
    """The tensors at model.weights[l] and model.biases[l], whatever holds them (a ParameterList, a
    list of plain tensors); the named parameters of those keys where the model has no such lists."""
    if layers is None:
        try:
            layers = len(model.weights)
        except Exception:
            layers = sum(1 for k, _ in model.named_parameters() if k.startswith("weights."))
    out = {}
    try:
        for l in range(layers):
            out[f"weights.{l}"], out[f"biases.{l}"] = model.weights[l], model.biases[l]
    except Exception:
        out = {}
    if not all(isinstance(t, torch.Tensor) for t in out.values()) or len(out) != 2 * layers:
        named = dict(model.named_parameters())
        out = {k: named[k] for k in (f"{kind}.{l}" for l in range(layers) for kind in ("weights", "biases"))
               if k in named}
    return out


class Worker:
    """The request loop and the handle table."""

    def __init__(self, req_fd: int, rep_fd: int):
        self.req_fd, self.rep_fd = req_fd, rep_fd
        # The worker is killed, never asked to exit: a block-buffered stdout would lose the prints
        # instructors read (stdout is a pipe here, and `python -I` ignores PYTHONUNBUFFERED).
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)
            except (AttributeError, ValueError, OSError):
                pass
        self.module = types.ModuleType("submission")
        self.module.__dict__["__builtins__"] = __builtins__
        sys.modules["submission"] = self.module
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.mnist_cache: dict[tuple[str, int], torch.Tensor] = {}
        self.loss_log: list[int] = []  # batch sizes the known-good mle_loss saw

    # -- handles -------------------------------------------------------------------------------
    def to_handle(self, obj) -> protocol.Handle:
        hid = self.next_handle
        self.next_handle += 1
        self.handles[hid] = obj
        return protocol.Handle(hid, type(obj).__name__)

    def from_handle(self, hid: int, _type: str):
        if hid not in self.handles:
            raise LookupError(f"no object #{hid} in the sandbox (released or never made)")
        return self.handles[hid]

    # -- loop ----------------------------------------------------------------------------------
    def serve(self) -> None:
        cuda = torch.cuda.is_available()
        info = {"torch": torch.__version__, "python": sys.version.split()[0], "cuda": cuda,
                "device": torch.cuda.get_device_name(0) if cuda else "cpu"}
        self.reply(0, True, info)
        while True:
            try:
                payload = protocol.read_frame(self.req_fd)
            except EOFError:
                return
            rid = None
            try:
                body, value = protocol.decode(payload, from_handle=self.from_handle, place=_place)
                rid = body.get("id")
                with _known_good(self.module.__dict__, body.get("known_good") or (), body.get("label_map"),
                                 self.loss_log):
                    result = getattr(self, "op_" + str(body.get("op")))(body, value)
            except BaseException as exc:  # student code may raise SystemExit or KeyboardInterrupt
                self.reply(rid, False, None, error=_describe(exc))
                continue
            try:
                self.reply(rid, True, result)
            except BaseException as exc:
                self.reply(rid, False, None, error=_describe(exc, "could not send the result: "))

    def reply(self, rid, ok: bool, value, error=None) -> None:
        message = {"id": rid, "ok": ok}
        if error is not None:
            message["error"] = error
        # What the call printed is in the pipe before its reply: the grader marks the switch between a
        # visible and a hidden test in that stream right after a reply, so nothing may lag behind.
        for stream in (sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:
                pass
        protocol.write_all(self.rep_fd, protocol.encode(message, value, to_handle=self.to_handle))

    # -- operations ----------------------------------------------------------------------------
    def op_exec(self, body, _value):
        code = compile(str(body["code"]), str(body["filename"]), "exec")
        exec(code, self.module.__dict__)
        return None

    def op_stats(self, _body, _value):
        import resource

        return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    def op_names(self, _body, _value):
        return {k: type(v).__name__ for k, v in self.module.__dict__.items() if not k.startswith("__")}

    def target(self, body):
        if body.get("handle") is not None:
            obj = self.from_handle(int(body["handle"]), "")
        else:
            name = str(body["target"])
            if name not in self.module.__dict__:
                raise NameError(f"{name!r} is not defined in your submission")
            obj = self.module.__dict__[name]
        method = body.get("method")
        return getattr(obj, str(method)) if method else obj

    def op_call(self, body, value):
        args, kwargs = value
        return self.target(body)(*args, **kwargs)

    def op_trace(self, body, value):
        args, kwargs = value
        fn = self.target(body)
        names: set[str] = set()
        aten: set[str] = set()
        switched_off = []
        # Two levels: torch functions as the code names them, and the ATen ops they end in (which
        # `DisableTorchFunction`, `torch.ops.aten.*` and private kernels do not hide).
        with _AtenRecorder(aten, switched_off), _FunctionRecorder(names):
            out = fn(*args, **kwargs)
        return [out, sorted(names), sorted(aten), bool(switched_off)]

    def op_vjp(self, body, value):
        args, kwargs, wrt, cotangent, with_params = value
        args = list(args)
        inputs = []
        for i in wrt:
            args[i] = args[i].detach().clone().requires_grad_(True)
            inputs.append(args[i])
        fn = self.target(body)
        params = []
        if with_params:
            owner = fn.__self__ if hasattr(fn, "__self__") else fn
            if type(with_params) is int:  # the contract's tensors, however the model holds them
                params = list(contract_tensors(owner, with_params).items())
                for _, p in params:
                    if not p.requires_grad and p.is_leaf:
                        p.requires_grad_(True)
            else:
                params = list(owner.named_parameters())
            inputs += [p for _, p in params]
        out = fn(*args, **kwargs)
        if type(out) is not torch.Tensor:
            raise TypeError(f"expected a tensor to differentiate, got {type(out).__name__}")
        if out.grad_fn is None:
            raise RuntimeError(
                "the result is not differentiable with respect to its inputs "
                "(does the code use .item(), .detach(), .data, numpy or torch.no_grad()?)")
        if cotangent is None:
            cotangent = torch.ones_like(out)
        grads = torch.autograd.grad(out, inputs, cotangent, allow_unused=True)
        named = {name: g for (name, _), g in zip(params, grads[len(wrt):])}
        return [out.detach(), list(grads[:len(wrt)]), named]

    def op_seed(self, _body, value):
        torch.manual_seed(int(value))
        return None

    def op_release(self, _body, value):
        for hid in value:
            self.handles.pop(int(hid), None)
        return None

    def op_mnist(self, _body, value):
        name, count = (value, None) if isinstance(value, str) else value
        return self.to_handle(self.mnist(str(name), None if count is None else int(count)).clone())

    def mnist(self, name: str, count: int | None = None) -> torch.Tensor:
        """The first `count` MNIST records (all by default) as one tensor, normalised and flattened once
        by the grader (not by student code); only those records are read from disk."""
        files = {"train_images": ("train-images-idx3-ubyte", 16, 784, 60000),
                 "train_labels": ("train-labels-idx1-ubyte", 8, 1, 60000),
                 "test_images": ("t10k-images-idx3-ubyte", 16, 784, 10000)}
        fname, header, size, total = files[name]
        count = total if count is None else max(0, min(count, total))
        if (name, count) not in self.mnist_cache:
            path = os.path.join(os.environ.get("GRADER_MNIST_DIR", "/data/MNIST/raw"), fname)
            with open(path, "rb") as f:
                raw = bytearray(f.read(header + count * size))
            t = torch.frombuffer(raw, dtype=torch.uint8, offset=header)
            if size == 1:
                t = t.to(torch.int64)
            else:
                t = t.reshape(-1, size).to(torch.float32).div_(127.5).sub_(1.0)
            self.mnist_cache[(name, count)] = t
        return self.mnist_cache[(name, count)]

    def op_params(self, _body, value):
        """[model, layers, new]: the model's contract tensors (copies); first set to `new` when given,
        each in the model's own layout (a W_l stored transposed is written transposed)."""
        model, layers, new = value
        tensors = contract_tensors(model, None if layers is None else int(layers))
        swapped = []
        if new is not None:
            with torch.no_grad():
                for key, t in new.items():
                    if key not in tensors:
                        raise KeyError(f"the model has no tensor {key} (model.{key.replace('.', '[')}])")
                    held = tensors[key]
                    if held.shape != t.shape and t.dim() == 2 and held.shape == t.T.shape:
                        t = t.T
                        swapped.append(key)
                    held.copy_(t)
        return [{k: t.detach().clone() for k, t in tensors.items()}, swapped]

    def op_grad_norms(self, _body, value):
        """model: the norm of each contract tensor's .grad as the model holds it now (None: no grad)."""
        return {k: None if getattr(t, "grad", None) is None else float(t.grad.detach().double().norm())
                for k, t in contract_tensors(value, None).items()}

    def op_grader_mlp(self, _body, value):
        return GraderMLP(value)

    def op_same(self, _body, value):
        return value[0] is value[1]

    def op_loss_log(self, _body, _value):
        log, self.loss_log = self.loss_log, []
        return log


def _function_name(func) -> str:
    """A torch function's public name, else its module and name (`torch._C._nn.cross_entropy_loss`)."""
    try:
        name = resolve_name(func)
    except Exception:
        name = None
    if name:
        return name
    module = getattr(func, "__module__", None) or "?"
    return f"{module}.{getattr(func, '__name__', None) or getattr(func, '__qualname__', None) or repr(func)}"


def _all_torch_functions_off() -> bool:
    probe = getattr(torch._C, "_is_torch_function_all_disabled", None)
    return bool(probe()) if probe is not None else not torch._C._is_torch_function_enabled()


class _FunctionRecorder(TorchFunctionMode):
    """Records the torch functions the code calls, by name."""

    def __init__(self, names: set):
        super().__init__()
        self.names = names

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(_function_name(func))
        return func(*args, **(kwargs or {}))


class _AtenRecorder(TorchDispatchMode):
    """Records the ATen ops that run, and whether torch functions were switched off while one ran."""

    def __init__(self, ops: set, switched_off: list):
        super().__init__()
        self.ops, self.switched_off = ops, switched_off


def _record_aten(self, func, types, args=(), kwargs=None):
    self.ops.add(func.name())
    # All torch functions off (DisableTorchFunction), not the subclass-only switch every
    # Tensor subclass's own __torch_function__ uses.
    if not self.switched_off and _all_torch_functions_off():
        self.switched_off.append(func.name())
    return func(*args, **(kwargs or {}))


# Set after the class exists: TorchDispatchMode wraps a __torch_dispatch__ defined in the class body in
# torch._dynamo.disable, whose first call imports dynamo and sympy (about 2 s on one core) on the path of
# the first from-the-formula check. Nothing here runs under torch.compile, so the plain function will do.
_AtenRecorder.__torch_dispatch__ = _record_aten



def _place(t: torch.Tensor, device: str) -> torch.Tensor:
    return t.to(device) if device.startswith("cuda") and torch.cuda.is_available() else t


def _describe(exc: BaseException, prefix: str = "") -> dict:
    """Exception -> plain dict naming the student's cell and line where it happened, and the culprit: the
    innermost function of the submission's own code that was running (leaky_relu inside MLP.forward)."""
    where, stack, culprit = None, [], None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        fname = code.co_filename
        if _is_submission(fname):
            stack.append(f"{fname}, line {tb.tb_lineno}, in {code.co_name}")
            where = f"{fname}, line {tb.tb_lineno}"
            if not code.co_name.startswith("<"):  # a lambda or comprehension belongs to its function
                culprit = {"function": _culprit_name(code), "where": where}
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        where = f"{exc.filename}, line {exc.lineno}"
        if culprit is not None:
            culprit["where"] = where
    try:
        # A SyntaxError's str() repeats its file and line, which `where` already holds.
        message = str(exc.msg) if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    except BaseException:
        message = "<unprintable>"
    return {"type": type(exc).__name__[:100], "message": (prefix + message)[:MESSAGE_CAP],
            "where": where, "stack": stack[-5:], "culprit": culprit}


def _is_submission(fname: str) -> bool:
    return fname.startswith("cell ") or fname.endswith(".py") and not fname.startswith(("/", "<"))


def _culprit_name(code) -> str:
    """MLP.forward for a method, leaky_relu for a function; a helper nested in train by its own name."""
    name = getattr(code, "co_qualname", code.co_name)
    return (code.co_name if "<" in name else name)[:100]


def main() -> None:
    req_fd = os.dup(0)  # dup'ed fds are not inherited by anything the student starts
    rep_fd = os.dup(int(os.environ.get("GRADER_REPLY_FD", "3")))
    os.close(int(os.environ.get("GRADER_REPLY_FD", "3")))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # input() in student code must not eat the grader's requests
    torch.set_num_threads(int(THREADS))
    files = os.environ.get("GRADER_SUBMISSION_DIR")
    if files and os.path.isdir(files):
        sys.path.append(files)
        os.chdir(files)
    # In the background: the first tests need none of it, and the worker answers them meanwhile.
    threading.Thread(target=warm_imports, name="warm-imports", daemon=True).start()
    Worker(req_fd, rep_fd).serve()


if __name__ == "__main__":
    main()

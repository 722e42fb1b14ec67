"""From the formula: what a student's function uses, resolved to the library's names or the student's own.

Two halves, judged by one allow-list of what a from-the-formula function may use:
- static (`static_uses`), in the grader: the function's source is read with every name resolved
  (imports and aliases, attribute chains rooted at torch, the student's own functions, classes,
  methods and instances, `self.x` set in a method); a helper of the student's own is followed and
  judged by what it uses, whatever it is called. Private entry points (`torch._C...`, `torch._foo`),
  `torch.ops.<ns>.<op>` (judged by `<op>`), and code that computes what it calls (`eval`,
  `getattr` with a computed name on anything but the student's own objects, `__dict__`, `globals()`)
  are not allowed.
- run time (`runtime_uses`): what the sandbox's recorder says the call used, at two levels: torch
  functions as named by the code, and the ATen ops they ran (which `DisableTorchFunction`,
  `torch.ops.aten.*` and private kernels do not hide). The sandbox is the student's: this half is a
  claim that catches a built-in reached in a way the source does not show, never a proof.

The allow-list (ALLOWED) holds elementwise arithmetic, exp/log and their relatives, comparisons and
selection (`where`, `clamp`, `maximum`, `max`), reductions (`sum`, `mean`, `logsumexp`), indexing
(`gather`), matrix products, tensor creation, shape, dtype and device plumbing. Not on it, whatever
door they come through: the activations (`sigmoid`, `tanh`, `relu`, `leaky_relu`, `prelu`, `hardtanh`,
`threshold`, `softplus`, ...), `softmax`, `log_softmax`, `cross_entropy`, `nll_loss`, `linear`, every
`torch.nn` module, and anything unlisted.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

import torch

# -- what a from-the-formula function may use --------------------------------------------------------

ALLOWED = frozenset("""
add sub subtract rsub mul multiply div divide true_divide floor_divide neg negative positive reciprocal
pow float_power square sqrt rsqrt abs absolute sign sgn signbit copysign fmod remainder addcmul addcdiv
lerp exp exp2 expm1 log log2 log10 log1p logaddexp logaddexp2 logsumexp sinh cosh xlogy
where clamp clamp_min clamp_max clip maximum minimum fmax fmin max min amax amin argmax argmin aminmax
gt ge lt le eq ne greater greater_equal less less_equal equal isfinite isnan isinf isposinf isneginf
nan_to_num logical_and logical_or logical_not logical_xor bitwise_not bitwise_and bitwise_or bitwise_xor heaviside masked_fill floor ceil round trunc
sum mean nansum prod cumsum cumprod diff all any allclose isclose count_nonzero std var std_mean var_mean norm
vector_norm linalg_vector_norm median sort argsort topk flip roll unique nonzero tril triu diag grad
gather index_select take_along_dim take scatter scatter_add index_put masked_select narrow select slice
index getitem setitem
reshape view view_as flatten unflatten squeeze unsqueeze expand expand_as broadcast_to broadcast_tensors
transpose t T mT permute movedim swapaxes contiguous cat concat concatenate stack hstack vstack split
chunk unbind repeat tile size dim shape ndim numel nelement dtype device is_cuda layout requires_grad
requires_grad_ grad_fn is_leaf values indices item tolist detach clone copy_ data type type_as to float
double half bfloat16 long int bool cpu cuda new_zeros new_ones new_full new_tensor new_empty zeros ones
full empty zeros_like ones_like full_like empty_like tensor as_tensor from_numpy numpy arange linspace
eye scalar_tensor fill fill_ zero_ is_floating_point is_tensor is_complex finfo iinfo get_default_dtype
result_type promote_types can_cast float16 float32 float64 int8 int16 int32 int64 uint8 cfloat inf nan e
pi no_grad enable_grad set_grad_enabled inference_mode Size Tensor matmul mm bmm mv dot vdot einsum
tensordot outer inner addmm addmv vecdot one_hot pad
""".split())

# Tensor operators (`x + 1` is Tensor.__add__, `1 / x` Tensor.__rtruediv__) and plumbing dunders.
DUNDERS = frozenset(f"__{n}__" for n in """
add radd iadd sub rsub isub mul rmul imul truediv rtruediv itruediv div rdiv idiv floordiv rfloordiv
mod rmod neg pos abs pow rpow ipow matmul rmatmul lt le gt ge eq ne and rand iand or ror ior xor rxor
ixor invert getitem setitem len iter bool float int index contains format repr hash array reversed
deepcopy get
""".split())

# What ATen ops the allowed functions run as, beyond their own names (ATen's own plumbing).
ATEN_EXTRA = frozenset("""
lift_fresh lift_fresh_copy _to_copy _unsafe_view _local_scalar_dense _reshape_alias alias
resolve_conj resolve_neg empty_strided as_strided _unsafe_index _unique2 is_nonzero is_same_size
""".split())

# Public torch namespaces whose functions are judged by their names.
NAMESPACES = ("torch", "torch.Tensor", "torch.special", "torch.linalg", "torch.nn.functional",
              "torch.functional", "torch.autograd", "torch.nn")
# Classes a student's helper may build on, and what of theirs it may use by its full name.
BASES = frozenset({"torch.nn.Module", "torch.autograd.Function", "torch.Tensor"})
PATHS = BASES | {"torch.autograd.Function.apply", "torch.autograd.function.Function.apply",
                 "torch.autograd.function.FunctionCtx.save_for_backward"}
# Python built-ins that compute what they call: the source no longer says which function runs.
DYNAMIC_BUILTINS = frozenset({"eval", "exec", "compile", "__import__", "globals", "vars", "locals"})
DYNAMIC_MODULES = frozenset({"importlib", "builtins", "operator", "ctypes", "sys", "inspect", "gc"})
DYNAMIC_ATTRS = frozenset({"__dict__", "__getattribute__", "__getattr__", "__globals__", "__builtins__",
                           "__closure__", "__code__", "__wrapped__", "__func__", "__self__", "__class__",
                           "__mro__", "__bases__", "__subclasses__"})


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def judge_torch(path: str) -> str | None:
    """Why the torch name `path` (`torch.sigmoid`, `torch.ops.aten.exp.default`) is not allowed, or None."""
    parts = path.split(".")
    if parts[:2] in (["torch", "ops"], ["torch", "_ops"]) or parts[0] == "aten":
        # An operator of the registry: judged by the op's own name (aten.sigmoid.default -> sigmoid).
        rest = parts[2:] if parts[0] == "torch" else parts
        if len(rest) < 2:
            return None if len(rest) < 1 or rest[0] == "aten" else "an operator namespace that is not ATen"
        namespace, op = rest[0], rest[1]
        if namespace != "aten":
            return f"an operator of the {namespace!r} namespace, not a public torch function"
        return judge_aten(op)
    if parts[-1] in ("__get__", "__set__") and len(parts) > 2:  # a property of Tensor: x.shape
        parts = parts[:-1]
    if ".".join(parts) in PATHS or ".".join(parts) in NAMESPACES:  # a namespace: judged by what is used of it
        return None
    private = [p for p in parts if _private(p)]
    if private:
        return "a private torch entry point"
    if any(p.startswith("__") for p in parts[1:-1]) or (parts[-1].startswith("__") and parts[-1] not in DUNDERS):
        return "internal machinery of torch"
    if len(parts) == 1:
        return None
    namespace, op = ".".join(parts[:-1]), parts[-1]
    if op in DUNDERS and namespace == "torch.Tensor":
        return None
    if namespace not in NAMESPACES:
        return "not on the list of what the formula may use"
    base = op[:-1] if op.endswith("_") and not op.endswith("__") else op
    return None if base in ALLOWED else "not on the list of what the formula may use"


def judge_aten(op: str) -> str | None:
    """Why the ATen op (`sigmoid`, `add.Tensor`, `aten::exp`) is not allowed, or None."""
    if "::" in op:
        namespace, op = op.split("::", 1)
        if namespace != "aten":
            return f"an operator of the {namespace!r} namespace, not a public torch function"
    base = op.split(".", 1)[0]
    base = base[:-1] if base.endswith("_") and not base.endswith("__") else base
    return None if base in ALLOWED or base in ATEN_EXTRA else "not on the list of what the formula may use"


# -- run time --------------------------------------------------------------------------------------------

def runtime_uses(functions, aten, torch_function_off: bool) -> list[str]:
    """What a trace says the call used that is not allowed, one line each ("torch.sigmoid: why")."""
    found = []
    if torch_function_off:
        found.append("torch functions switched off (DisableTorchFunction): torch's own hooks are off limits")
    for name in functions:
        why = judge_torch(name)
        if why:
            found.append(f"{name}: {why}")
    for op in aten:
        why = judge_aten(op)
        if why:
            found.append(f"{op.replace('::', '.')}: {why}")
    if not functions and not aten:
        found.append("nothing recorded: a right answer computes with torch, so the record was cut off")
    return found


# -- the source ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Use:
    """One thing the source uses that is not allowed."""

    name: str  # as the student wrote it
    resolved: str  # what it refers to: "torch.sigmoid", "Tensor.sigmoid", "eval"
    line: int
    why: str


# Resolved values: what an expression may refer to.
@dataclass(frozen=True)
class _Torch:
    path: str


@dataclass(frozen=True)
class _Func:
    node: ast.AST  # FunctionDef, AsyncFunctionDef or Lambda
    owner: ast.ClassDef | None = None


@dataclass(frozen=True)
class _Class:
    node: ast.ClassDef


@dataclass(frozen=True)
class _Instance:
    node: ast.ClassDef


@dataclass(frozen=True)
class _Module:
    name: str  # a module that is not torch: numpy, math, importlib


@dataclass(frozen=True)
class _Expr:
    node: ast.AST  # a binding that is none of the above: judged by everything it refers to
    fn: ast.AST | None = None  # the method it is written in (`self.f = ...`), for its local names
    owner: ast.ClassDef | None = None


@dataclass(frozen=True)
class _Param:
    tensor: bool  # a parameter of the graded function itself: a tensor by the contract


@dataclass(frozen=True)
class _Builtin:
    name: str


_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _import_bindings(node) -> list[tuple[str, object]]:
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out.append((alias.asname, _module_value(alias.name)))
            else:
                top = alias.name.split(".")[0]
                out.append((top, _module_value(top)))
    elif isinstance(node, ast.ImportFrom) and not node.level:
        module = node.module or ""
        for alias in node.names:
            if alias.name != "*":
                out.append((alias.asname or alias.name, _module_value(f"{module}.{alias.name}")))
    return out


def _module_value(dotted: str):
    return _Torch(dotted) if dotted.split(".")[0] == "torch" else _Module(dotted)


class Source:
    """A submission's top-level bindings, resolved on demand."""

    def __init__(self, codes: tuple[str, ...]):
        self.bindings: dict[str, list] = {}
        self.star_torch: list[str] = []
        self.method_names: set[str] = set()
        self.classes: list[ast.ClassDef] = []
        # (class, attribute) -> what it may be: resolved once. Without it, an attribute assigned in two
        # places doubles the work at each link of a `self.a0 = self.a1 ...` chain (student source, run in
        # the grader with no deadline); an entry being resolved reads as nothing, which also ends cycles.
        self._members: dict[tuple[int, str], list] = {}
        for code in codes:
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in tree.body:
                self._bind_top(node)
        for cls in self.classes:
            self.method_names |= {n.name for n in cls.body if isinstance(n, _FUNCS)}

    def _bind_top(self, node) -> None:
        if isinstance(node, _FUNCS):
            self.bindings[node.name] = [_Func(node)]
        elif isinstance(node, ast.ClassDef):
            self.bindings[node.name] = [_Class(node)]
            self.classes.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch" \
                    and any(a.name == "*" for a in node.names):
                self.star_torch.append(node.module)
            for name, value in _import_bindings(node):
                self.bindings[name] = [value]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    self.bindings[t.id] = [_Expr(node.value)]
                elif isinstance(t, ast.Tuple) and isinstance(node.value, ast.Tuple) \
                        and len(t.elts) == len(node.value.elts):  # a, b = torch.tanh, torch.relu
                    for name, value in zip(t.elts, node.value.elts):
                        if isinstance(name, ast.Name):
                            self.bindings[name.id] = [_Expr(value)]
                else:
                    for sub in ast.walk(t):
                        if isinstance(sub, ast.Name):
                            self.bindings[sub.id] = [_Expr(node.value)]
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self._bind_top(child)
            for handler in getattr(node, "handlers", ()):
                for child in handler.body:
                    self._bind_top(child)

    # -- resolution ------------------------------------------------------------------------------------
    def lookup(self, name: str, scope: "_Scope | None", depth: int = 0) -> list:
        if scope is not None and name in scope.names:
            return scope.names[name]
        if name in self.bindings:
            return [self.settle(v, depth) for v in self.bindings[name]]
        for module in self.star_torch:
            if name in getattr(torch, "__all__", ()) or hasattr(torch, name):
                return [_Torch(f"{module}.{name}")]
        if name in DYNAMIC_BUILTINS or name in ("getattr", "staticmethod", "classmethod", "type", "super"):
            return [_Builtin(name)]
        return []

    def settle(self, value, depth: int):
        """A module-level `_Expr` binding that is a plain reference becomes what it refers to."""
        if isinstance(value, _Expr) and isinstance(value.node, (ast.Name, ast.Attribute, ast.Call, ast.Lambda)):
            resolved = self.resolve(value.node, None, depth + 1)
            if resolved:
                return resolved[0] if len(resolved) == 1 else value
        return value

    def resolve(self, node, scope, depth: int = 0) -> list:
        """What `node` may refer to (empty: a value of unknown kind, such as a tensor)."""
        if depth > 20:
            return []
        if isinstance(node, ast.Name):
            return self.lookup(node.id, scope, depth)
        if isinstance(node, ast.Lambda):
            return [_Func(node)]
        if isinstance(node, ast.Attribute):
            return [v for base in self.resolve(node.value, scope, depth + 1)
                    for v in self.member(base, node.attr, depth)]
        if isinstance(node, ast.Call):
            callee = self.resolve(node.func, scope, depth + 1)
            out = []
            for c in callee:
                if isinstance(c, _Class):
                    out.append(_Instance(c.node))
                elif isinstance(c, _Builtin) and c.name in ("staticmethod", "classmethod") and node.args:
                    out += self.resolve(node.args[0], scope, depth + 1)
                elif isinstance(c, _Builtin) and c.name == "getattr" and len(node.args) >= 2 \
                        and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                    out += [v for base in self.resolve(node.args[0], scope, depth + 1)
                            for v in self.member(base, node.args[1].value, depth)]
            return out
        return []

    def member(self, base, attr: str, depth: int = 0) -> list:
        if isinstance(base, _Torch):
            return [_Torch(f"{base.path}.{attr}")]
        if isinstance(base, (_Class, _Instance)):
            key = (id(base.node), attr)
            if key not in self._members:
                self._members[key] = []
                self._members[key] = list(dict.fromkeys(self._class_member(base.node, attr, depth, set())))
            return self._members[key]
        if isinstance(base, _Module):
            return [_Module(f"{base.name}.{attr}")]
        return []

    def _class_member(self, cls: ast.ClassDef, attr: str, depth: int, seen: set) -> list:
        if id(cls) in seen:
            return []
        seen.add(id(cls))
        found = []
        for item in cls.body:
            if isinstance(item, _FUNCS) and item.name == attr:
                found.append(_Func(item, cls))
            elif isinstance(item, (ast.Assign, ast.AnnAssign)) and item.value is not None:
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
                    found += self.resolve(item.value, None, depth + 1) or [_Expr(item.value)]
        # self.attr = value, in any method
        for method in (m for m in cls.body if isinstance(m, _FUNCS)):
            for sub in ast.walk(method):
                if isinstance(sub, ast.Assign):
                    for t in sub.targets:
                        if isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name) \
                                and t.value.id in ("self", "cls"):
                            owner = _Scope({t.value.id: [_Instance(cls) if t.value.id == "self" else _Class(cls)]})
                            found += self.resolve(sub.value, owner, depth + 1) or [_Expr(sub.value, method, cls)]
        if found:
            return found
        for base in cls.bases:
            for b in self.resolve(base, None, depth + 1):
                if isinstance(b, _Class):
                    found += self._class_member(b.node, attr, depth, seen)
                elif isinstance(b, _Torch):
                    found.append(_Torch(f"{b.path}.{attr}"))
        return found


@dataclass
class _Scope:
    """The local names of one function: parameters, assignments and imports inside it."""

    names: dict

    @staticmethod
    def of(source: Source, fn, owner: ast.ClassDef | None, graded: bool = False) -> "_Scope":
        scope = _Scope({})
        params = []
        for sub in ast.walk(fn):
            if isinstance(sub, (*_FUNCS, ast.Lambda)):
                a = sub.args
                params += [(sub, p.arg) for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                params += [(sub, p.arg) for p in (a.vararg, a.kwarg) if p is not None]
        static = owner is not None and any(isinstance(d, ast.Name) and d.id == "staticmethod"
                                           for d in getattr(fn, "decorator_list", ()))
        first = fn.args.posonlyargs[:1] + fn.args.args[:1] if not isinstance(fn, ast.Lambda) else []
        for node, name in params:
            if owner is not None and not static and node is fn and first and name == first[0].arg:
                scope.names[name] = [_Instance(owner)]
            else:
                tensor = graded and node is fn
                scope.names.setdefault(name, []).append(_Param(tensor))
        for sub in ast.walk(fn):
            if sub is fn:
                continue
            if isinstance(sub, (ast.Import, ast.ImportFrom)):
                for name, value in _import_bindings(sub):
                    scope.names.setdefault(name, []).append(value)
            elif isinstance(sub, (*_FUNCS, ast.ClassDef)):
                scope.names.setdefault(sub.name, []).append(_Func(sub) if isinstance(sub, _FUNCS) else _Class(sub))
        for sub in ast.walk(fn):
            targets = []
            if isinstance(sub, ast.Assign):
                targets, value = sub.targets, sub.value
            elif isinstance(sub, (ast.AnnAssign, ast.NamedExpr)) and sub.value is not None:
                targets, value = [sub.target], sub.value
            for t in targets:
                if isinstance(t, ast.Name):
                    scope.names.setdefault(t.id, [])
                    # An expression of unknown kind needs no binding: it is walked with the body.
                    scope.names[t.id] = scope.names[t.id] + source.resolve(value, scope)
            for t in ast.walk(sub) if isinstance(sub, (ast.For, ast.comprehension, ast.withitem)) else ():
                if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store):
                    scope.names.setdefault(t.id, [])
        return scope


@functools.lru_cache(maxsize=8)
def _source(codes: tuple[str, ...]) -> Source:
    return Source(codes)


def static_uses(codes: tuple[str, ...], name: str) -> list[Use]:
    """What the graded function `name` (its last top-level binding) and every helper of the student's own
    it reaches use that is not allowed, in source order."""
    source = _source(codes)
    found: list[Use] = []
    done: set[int] = set()
    queue = []
    for raw in source.bindings.get(name, ()):
        # A binding that is a reference (`sigmoid = _acts.sigmoid`) is followed; any other is judged
        # by everything it refers to (`sigmoid = torch.sigmoid`, `sigmoid = make()`), with its line.
        settled = source.settle(raw, 0)
        queue.append((settled if isinstance(settled, (_Func, _Class, _Instance)) else raw, name, True))
    while queue:
        value, label, graded = queue.pop(0)
        if isinstance(value, _Torch):
            why = judge_torch(value.path)
            if why:
                found.append(Use(label, value.path, 0, why))
            continue
        if isinstance(value, _Func):
            node, owner, scope_of = value.node, value.owner, value.node
        elif isinstance(value, (_Class, _Instance)):
            node, owner, scope_of = value.node, value.node, None
        elif isinstance(value, _Expr):
            node, owner, scope_of = value.node, value.owner, value.fn
        else:
            continue
        if id(node) in done:
            continue
        done.add(id(node))
        if isinstance(value, (_Class, _Instance)):
            for base in node.bases:
                for b in source.resolve(base, None):
                    if isinstance(b, _Torch) and b.path not in BASES and judge_torch(b.path):
                        found.append(Use(ast.unparse(base), b.path, base.lineno, "a class of torch's to build on"))
                    elif isinstance(b, _Class):
                        queue.append((b, b.node.name, False))
            for item in node.body:
                if isinstance(item, _FUNCS):
                    queue.append((_Func(item, node), f"{node.name}.{item.name}", False))
                elif isinstance(item, (ast.Assign, ast.AnnAssign)) and item.value is not None:
                    queue.append((_Expr(item.value), node.name, False))  # f = torch.sigmoid in the class body
            continue
        scope = _Scope.of(source, scope_of, owner, graded and scope_of is node) if scope_of is not None else None
        found += _walk(source, node, scope, queue)
    return sorted(set(found), key=lambda u: (u.line, u.name))


def _walk(source: Source, node, scope, queue) -> list[Use]:
    """Judge every reference in `node`; queue the student's own functions and classes it reaches."""
    found = []
    inner = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    inner |= {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name) and n.func.id == "getattr"}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "getattr" \
                and "getattr" not in (scope.names if scope else {}) and "getattr" not in source.bindings:
            found += _judge_getattr(source, sub, scope, queue)
            continue
        if not isinstance(sub, (ast.Name, ast.Attribute)) or id(sub) in inner:
            continue
        if not isinstance(sub.ctx, ast.Load):
            continue
        if isinstance(sub, ast.Attribute) and sub.attr in DYNAMIC_ATTRS:
            found.append(Use(ast.unparse(sub), sub.attr, sub.lineno, "reaches code through Python's internals"))
            continue
        values = source.resolve(sub, scope)
        if not values and isinstance(sub, ast.Attribute):
            found += _judge_method(source, sub, scope, queue)
            continue
        for v in values:
            found += _judge_value(v, sub, queue)
    return found


def _known(values) -> bool:
    return any(isinstance(v, (_Torch, _Func, _Class, _Instance, _Module, _Builtin)) for v in values)


def _judge_value(v, sub, queue) -> list[Use]:
    text = ast.unparse(sub)
    if isinstance(v, _Torch):
        why = judge_torch(v.path)
        return [Use(text, v.path, sub.lineno, why)] if why else []
    if isinstance(v, _Builtin) and v.name in DYNAMIC_BUILTINS:
        return [Use(text, v.name, sub.lineno, "computes at run time what it calls")]
    if isinstance(v, _Module) and v.name.split(".")[0] in DYNAMIC_MODULES:
        return [Use(text, v.name, sub.lineno, "computes at run time what it calls")]
    if isinstance(v, (_Func, _Class, _Instance, _Expr)):
        queue.append((v, text, False))
    return []


def _judge_method(source: Source, sub: ast.Attribute, scope, queue) -> list[Use]:
    """`v.attr` on a value of unknown kind: a tensor's method unless the student has a method of that name
    (then it may be the student's own: those methods are judged instead; run time settles the rest)."""
    attr = sub.attr
    if not hasattr(torch.Tensor, attr):
        return []
    base = sub.value
    on_input = isinstance(base, ast.Name) and scope is not None and any(
        isinstance(v, _Param) and v.tensor for v in scope.names.get(base.id, ()))
    if attr in source.method_names and not on_input:
        for cls in source.classes:
            for item in cls.body:
                if isinstance(item, _FUNCS) and item.name == attr:
                    queue.append((_Func(item, cls), f"{cls.name}.{attr}", False))
        return []
    why = judge_torch(f"torch.Tensor.{attr}")
    return [Use(ast.unparse(sub), f"torch.Tensor.{attr}", sub.lineno, why)] if why else []


def _judge_getattr(source: Source, call: ast.Call, scope, queue) -> list[Use]:
    if len(call.args) >= 2 and isinstance(call.args[1], ast.Constant) and isinstance(call.args[1].value, str):
        found = []
        for v in source.resolve(call, scope):
            found += _judge_value(v, call, queue)
        if not _known(source.resolve(call.args[0], scope)):  # a tensor's method by name: getattr(x, "sigmoid")
            attr = ast.Attribute(value=call.args[0], attr=call.args[1].value, ctx=ast.Load())
            ast.copy_location(attr, call)
            found += _judge_method(source, attr, scope, queue)
        return found
    bases = source.resolve(call.args[0], scope) if call.args else []
    if bases and all(isinstance(b, (_Class, _Instance)) for b in bases):
        for b in bases:  # the student's own object: every method of it is judged
            queue.append((_Class(b.node), b.node.name, False))
        return []
    return [Use(ast.unparse(call), "getattr", call.lineno, "computes at run time what it calls")]

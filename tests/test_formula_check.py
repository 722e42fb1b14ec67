"""grader.suites.formula: what a student's function uses, resolved statically and recorded at run time.

The static half must tell the student's own helpers (named like built-ins or not) from the library's
functions however they are reached; the run-time half must see the built-ins that leave no trace in
the source or in the torch-function record (private kernels, `torch.ops.aten`, DisableTorchFunction).
"""

from __future__ import annotations

import pytest
import torch

from grader.suites.formula import judge_aten, judge_torch, runtime_uses, static_uses


def uses(source: str, name: str) -> list[str]:
    return [u.resolved for u in static_uses(("import torch\n" + source,), name)]


# -- the student's own is fine, whatever it is called -------------------------------------------------

HELPER_CLASS = '''
class Activations:
    def sigmoid(self, x):
        return 1 / (1 + torch.exp(-x))
    def tanh(self, x):
        return 2 * self.sigmoid(2 * x) - 1
    def relu(self, x):
        return torch.clamp(x, min=0)
    def softmax(self, z):
        e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
        return e / e.sum(dim=-1, keepdim=True)
acts = Activations()
sigmoid = acts.sigmoid
tanh = acts.tanh
relu = Activations().relu
softmax = acts.softmax
'''


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softmax"])
def test_methods_of_the_students_own_class_named_like_builtins_are_fine(name):
    assert uses(HELPER_CLASS, name) == []


@pytest.mark.parametrize("source", [
    "def sigmoid(x):\n    return 1 / (1 + torch.exp(-x))\ndef tanh(x):\n    return 2 * sigmoid(2 * x) - 1\n",
    "import math\ndef tanh(x):\n    return (math.e ** (2 * x) - 1) / (math.e ** (2 * x) + 1)\n",
    "from torch import exp, where as pick\ndef tanh(x):\n    t = exp(-2 * x.abs())\n    return pick(x >= 0, 1, -1) * (1 - t) / (1 + t)\n",
    "import torch.nn.functional as F\ndef tanh(x):\n    return F.pad(x, (0, 0)) * 0 + torch.where(x > 0, 1.0, -1.0) * (1 - torch.exp(-2 * x.abs())) / (1 + torch.exp(-2 * x.abs()))\n",
    "class T(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n        return (torch.exp(2 * x) - 1) / (torch.exp(2 * x) + 1)\ndef tanh(x):\n    return T.apply(x)\n",
    "def _make():\n    def inner(x):\n        return torch.exp(x) / (torch.exp(x) + torch.exp(-x)) * 2 - 1\n    return inner\ntanh = _make()\n",
])
def test_formulas_written_many_ways_are_fine(source):
    assert uses(source, "tanh") == []


# -- the library's built-ins are out, through any door --------------------------------------------------

@pytest.mark.parametrize("source, resolved", [
    ("def sigmoid(x):\n    return torch.sigmoid(x)\n", "torch.sigmoid"),
    ("from torch import sigmoid as s\ndef sigmoid(x):\n    return s(x)\n", "torch.sigmoid"),
    ("import torch.nn.functional as F\ndef sigmoid(x):\n    f = F.sigmoid\n    return f(x)\n", "torch.nn.functional.sigmoid"),
    ("from torch.nn import functional\ndef sigmoid(x):\n    return functional.silu(x) / x\n", "torch.nn.functional.silu"),
    ("def sigmoid(x):\n    return x.sigmoid()\n", "torch.Tensor.sigmoid"),
    ("def sigmoid(x):\n    return getattr(x, 'sigmoid')()\n", "torch.Tensor.sigmoid"),
    ("def sigmoid(x):\n    return torch.special.expit(x)\n", "torch.special.expit"),
    ("def sigmoid(x):\n    return torch.ops.aten.sigmoid(x)\n", "torch.ops.aten.sigmoid"),
    ("def sigmoid(x):\n    return torch.ops.aten.sigmoid.default(x)\n", "torch.ops.aten.sigmoid.default"),
    ("def sigmoid(x):\n    return torch._C._VariableFunctions.sigmoid(x)\n", "torch._C._VariableFunctions.sigmoid"),
    ("def sigmoid(x):\n    with torch._C.DisableTorchFunction():\n        return 1 / (1 + torch.exp(-x))\n",
     "torch._C.DisableTorchFunction"),
    ("from torch._C import DisableTorchFunction as Off\ndef sigmoid(x):\n    with Off():\n        return x * 1\n",
     "torch._C.DisableTorchFunction"),
    ("def _helper(x):\n    return torch.sigmoid(x)\ndef sigmoid(x):\n    return _helper(x)\n", "torch.sigmoid"),
    ("class A:\n    def __init__(self):\n        self.f = torch.sigmoid\n    def s(self, x):\n        return self.f(x)\nsigmoid = A().s\n",
     "torch.sigmoid"),
    ("sigmoid = torch.sigmoid\n", "torch.sigmoid"),
    ("sigmoid = torch.nn.Sigmoid()\n", "torch.nn.Sigmoid"),
    ("class S(torch.nn.Sigmoid):\n    pass\nsigmoid = S()\n", "torch.nn.Sigmoid"),
    ("def sigmoid(x):\n    return getattr(torch, 'sig' + 'moid')(x)\n", "getattr"),
    ("def sigmoid(x):\n    return eval('torch.sigmoid')(x)\n", "eval"),
    ("def sigmoid(x):\n    return torch.__dict__['sigmoid'](x)\n", "__dict__"),
    ("def sigmoid(x):\n    return torch.Tensor.sigmoid(x)\n", "torch.Tensor.sigmoid"),
])
def test_builtins_are_found_however_they_are_reached(source, resolved):
    assert resolved in uses(source, "sigmoid")


@pytest.mark.parametrize("name, source, resolved", [
    ("leaky_relu", "def leaky_relu(x):\n    return torch._prelu_kernel(x, torch.tensor([0.1]))\n", "torch._prelu_kernel"),
    ("softmax", "def softmax(z):\n    return torch._masked_softmax(z, None, -1, None)\n", "torch._masked_softmax"),
    ("mle_loss", "def mle_loss(z, t):\n    return torch._C._nn.cross_entropy_loss(z, t, None, 1, -100, 0.0)\n",
     "torch._C._nn.cross_entropy_loss"),
    ("linear", "import torch.nn as nn\ndef linear(x, W, b):\n    return nn.functional.linear(x, W.T, b)\n",
     "torch.nn.functional.linear"),
])
def test_private_entry_points_and_names_on_no_list_are_out(name, source, resolved):
    assert resolved in uses(source, name)


# -- names, as the recorder reports them -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["torch.exp", "torch.Tensor.__rtruediv__", "torch.Tensor.shape.__get__",
                                  "torch.where", "torch.Tensor.max", "torch.logsumexp", "torch.ops.aten.exp.default",
                                  "torch.nn.functional.one_hot", "torch.autograd.function.Function.apply"])
def test_allowed_names(name):
    assert judge_torch(name) is None


@pytest.mark.parametrize("name", ["torch.sigmoid", "aten.sigmoid.default", "torch._ops.aten.sigmoid.default",
                                  "torch._prelu_kernel", "torch._C._nn.cross_entropy_loss", "torch.nn.functional.relu",
                                  "torch.Tensor.relu_", "torch.special.expit", "torch.ops.mylib.sig.default"])
def test_refused_names(name):
    assert judge_torch(name) is not None


def test_aten_ops_judged_by_op_name():
    assert judge_aten("aten::exp") is None and judge_aten("aten::add.Tensor") is None
    for op in ("aten::sigmoid", "aten::_prelu_kernel", "aten::_masked_softmax", "aten::_log_softmax",
               "aten::nll_loss_forward", "aten::tanh", "aten::relu", "mylib::sig"):
        assert judge_aten(op) is not None, op


def test_runtime_flags_switched_off_torch_functions_and_empty_records():
    assert runtime_uses(("torch.exp",), ("aten::exp",), False) == []
    assert runtime_uses((), ("aten::tanh",), True)
    assert runtime_uses((), (), False)


# -- the recorder in the sandbox ------------------------------------------------------------------------

RUNTIME = '''
import torch
def via_aten(x):
    return torch.ops.aten.sigmoid(x)
def via_prelu(x):
    return torch._prelu_kernel(x, torch.full((1,), 0.1))
def via_masked(z):
    return torch._masked_softmax(z, torch.zeros_like(z, dtype=torch.bool), -1, None)
def via_ce(z, t):
    return torch._C._nn.cross_entropy_loss(z, t, None, 1, -100, 0.0)
def via_off(x):
    with torch._C.DisableTorchFunction():
        return torch.exp(x) * 1
def formula(x):
    return 1 / (1 + torch.exp(-x))
class Sub(torch.Tensor):
    pass
def subclassed(x):
    return (1 / (1 + torch.exp(-x.as_subclass(Sub)))).as_subclass(torch.Tensor)
'''


def test_the_recorder_sees_what_the_torch_function_record_misses(sandboxed):
    s = sandboxed(RUNTIME)
    x = torch.randn(3, 4)
    judged = {}
    for name, args in [("via_aten", (x,)), ("via_prelu", (x,)), ("via_masked", (x,)),
                       ("via_ce", (x, torch.tensor([0, 1, 3]))), ("via_off", (x,)), ("formula", (x,)),
                       ("subclassed", (x,))]:
        _, trace = s.trace(name, *args)
        judged[name] = runtime_uses(trace.functions, trace.aten, trace.torch_function_off)
    # A Tensor subclass's own __torch_function__ switches torch functions off for subclasses only: fine.
    assert judged.pop("formula") == [] and judged.pop("subclassed") == []
    assert all(judged.values()), judged
    # DisableTorchFunction hides the op from the torch-function record, not from the ATen one: only the
    # switch itself is out (exp is fine), and it is seen.
    assert judged["via_off"] == ["torch functions switched off (DisableTorchFunction): torch's own hooks are off limits"]

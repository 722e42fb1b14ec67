"""Threat 13: echo the hidden inputs back through feedback. mean raises ValueError(str(x.tolist()));
clip uses every field of its exception: the values in hex, as x=<value> pairs, in the exception's
class name and in the code's file name (which the grader shows as the error's location)."""


def mean(x):
    raise ValueError(str(x.tolist()))


def clip(x, lo, hi):
    v = x.tolist()
    name = "E_" + "_".join(f"{a:.5f}".replace(".", "p").replace("-", "m") for a in v[:8])
    exc = type(name, (Exception,), {})
    where = "cell " + " ".join(f"{a:.6f}" for a in v[:6])
    ns = {}
    exec(compile("def _raise(e, m):\n    raise e(m)\n", where, "exec"), ns)
    message = "hex " + x.numpy().tobytes().hex() + " pairs " + ", ".join(f"x={a:.6f}" for a in v[:10])
    ns["_raise"](exc, message)

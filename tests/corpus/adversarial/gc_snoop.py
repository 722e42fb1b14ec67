"""Threat 3: find the grader's objects in the process: gc.get_objects() for a mean/clip that is not
this submission's, or a namespace holding them; sys.modules for anything named reference, grader,
rubric or pytest; and `import grader` / grader.load.reference, which the grader's own process has."""
import gc
import importlib
import sys
import types


def _find(name):
    for obj in gc.get_objects():
        try:
            module = str(getattr(obj, "__module__", "") or "")
            if isinstance(obj, types.FunctionType) and obj.__name__ == name and \
                    any(w in module for w in ("reference", "grader", "rubric")):
                return obj
            if isinstance(obj, types.SimpleNamespace) and callable(getattr(obj, name, None)):
                return getattr(obj, name)
        except Exception:
            continue
    for modname, module in list(sys.modules.items()):
        if any(w in modname for w in ("reference", "grader", "rubric", "compare", "suites")):
            if callable(getattr(module, name, None)):
                return getattr(module, name)
    for modname in ("grader.load.reference", "grader.suites.compare", "grader.suites.runner", "grader", "rubrics", "reference_tiny"):
        try:
            module = importlib.import_module(modname)
        except Exception:
            continue
        print("LEAKED: imported", modname, getattr(module, "__file__", None), flush=True)
        if modname == "grader.load.reference":
            try:
                return getattr(module.load_reference("reference_solution/tiny/tiny.ipynb"), name)
            except Exception:
                pass
    return None


def mean(x):
    fn = _find("mean")
    if fn is None:
        raise NotImplementedError("no reference object in the process")
    print("LEAKED:", fn, flush=True)
    return fn(x)


def clip(x, lo, hi):
    fn = _find("clip")
    if fn is None:
        raise NotImplementedError("no reference object in the process")
    print("LEAKED:", fn, flush=True)
    return fn(x, lo, hi)

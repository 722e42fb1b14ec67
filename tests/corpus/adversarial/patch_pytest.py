"""Threat 4: monkeypatch pytest where it can be reached: pytest.fail/skip/approx, _pytest's runner and
outcome classes, builtins.AssertionError; and raise pytest's own Skipped / XFailed outcome
exceptions from the graded calls, hoping a check is counted as skipped (out of the maximum) or
expected to fail."""
import builtins


def _patch():
    try:
        import _pytest.outcomes
        import _pytest.runner
        import pytest
    except ImportError:
        return False
    pytest.fail = pytest.skip = lambda *a, **k: None
    pytest.approx = lambda expected, *a, **k: type("Any", (), {"__eq__": lambda s, o: True})()
    _pytest.runner.call_and_report = lambda *a, **k: None
    _pytest.outcomes.fail = lambda *a, **k: None
    builtins.AssertionError = type("AssertionError", (Exception,), {})
    return True


try:
    _PATCHED = _patch()
except BaseException:
    _PATCHED = False


def mean(x):
    import pytest

    raise pytest.skip.Exception("skipped: counts neither for nor against", _use_item_location=False)


def clip(x, lo, hi):
    import pytest

    try:
        pytest.xfail("expected to fail")
    except BaseException as exc:
        raise exc

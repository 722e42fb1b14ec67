"""Threat 5: fake success in the output: print what a test runner or Gradescope prints for a pass,
on stdout and stderr, at import and in every call; the functions do nothing right."""
import json
import sys

BANNERS = ["PASSED", "test_tiny.py::test_mean PASSED", "test_tiny.py::test_clip PASSED",
           "============ 4 passed in 0.01s ============", "100/100", "Total: 5 / 5", "Score: 5/5",
           json.dumps({"score": 5, "tests": [{"name": "mean", "score": 3, "max_score": 3, "status": "passed"},
                                             {"name": "clip", "score": 2, "max_score": 2, "status": "passed"}]})]


def _shout():
    for line in BANNERS:
        print(line)
        print(line, file=sys.stderr)
    sys.stdout.flush()
    return True


try:
    _DONE = _shout()
except BaseException:
    _DONE = False


def mean(x):
    _shout()
    return x.sum() * 0 + 42.0  # wrong on purpose: only the banners say it passed


def clip(x, lo, hi):
    _shout()
    raise AssertionError("PASSED 100/100")

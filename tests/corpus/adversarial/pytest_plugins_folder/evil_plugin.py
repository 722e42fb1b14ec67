"""Threat 4: a pytest plugin named by PYTEST_PLUGINS / pytest_plugins: every report becomes "passed"."""
import pytest


def pytest_configure(config):
    open("/tmp/ADVERSARIAL_CANARY_plugin", "w").write("plugin ran in the grader")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"

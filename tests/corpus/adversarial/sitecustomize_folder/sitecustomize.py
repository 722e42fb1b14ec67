"""Threat 8: runs at interpreter start-up if the submission folder is ever a site directory or the
working folder of a non-isolated Python (the grader's or the worker's)."""
import builtins

builtins.__ADVERSARIAL_HOOK__ = "sitecustomize"
open("/tmp/ADVERSARIAL_CANARY_sitecustomize", "w").write("ran")

"""Threat 8: the user-site twin of sitecustomize."""
import builtins

builtins.__ADVERSARIAL_HOOK__ = "usercustomize"
open("/tmp/ADVERSARIAL_CANARY_usercustomize", "w").write("ran")

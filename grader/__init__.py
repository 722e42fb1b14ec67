"""mlgrader: a sandboxed autograder for machine-learning notebooks."""

__version__ = "0.1.0"

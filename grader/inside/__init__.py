"""Exactly the files bound into the sandbox, next to student code: standard library and torch only, never `grader`."""

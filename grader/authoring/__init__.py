"""Authoring: what an instructor builds from an assignment (the student release, the Gradescope package)."""

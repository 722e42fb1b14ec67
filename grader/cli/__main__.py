"""`python -m grader.cli`: the same as the `grade` console script."""

from grader.cli import console

console()

"""Suites: the hidden pytest suites run in the grader process, the `student` call API and the comparison helpers they use."""

"""Batch: a class from a folder or an LMS export, graded in child processes with a journal that survives a kill."""

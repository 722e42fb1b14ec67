"""Reporters: pure renderers of results (terminal, results.json, grades.csv and LMS imports, the class report); they never score."""

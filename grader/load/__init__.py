"""Load: a submission, the reference solution and MNIST from disk into values the grader can use."""

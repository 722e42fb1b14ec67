"""The sandbox, grader side: what to start, how (bwrap or a plain subprocess), uids, and the connection to a worker."""

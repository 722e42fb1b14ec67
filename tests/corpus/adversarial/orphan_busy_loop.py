"""Threat 21: a submission that spins forever inside a graded call, with a name of its own in `ps`
(its process's comm). A batch stops its grading process at the timeout: the invariant is that nothing of
it is left running afterwards, whatever the test was doing and for forked workers too."""


def _name():
    try:  # PR_SET_NAME: needs no /proc access (a forked worker's own /proc files belong to root)
        import ctypes

        ctypes.CDLL(None).prctl(15, b"orphan7313spin", 0, 0, 0)
    except (OSError, AttributeError):
        pass


def mean(x):
    _name()
    while True:
        pass


def clip(x, lo, hi):
    _name()
    while True:
        pass

"""Threat 6: objects that compare equal to everything: an __eq__ that is always True, a float
subclass, a numpy scalar subclass and a list subclass; none of them is the right value."""
import numpy as np


class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    def __float__(self):
        return 0.0

    def __array__(self, *a, **k):
        return np.zeros(())

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __getattr__(self, name):
        return lambda *a, **k: self


class TrueFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class TrueList(list):
    def __eq__(self, other):
        return True


def mean(x):
    return [Anything(), TrueFloat(1.0), np.float32(0.0)][len(x) % 3]


def clip(x, lo, hi):
    return TrueList([0.0] * len(x)) if len(x) % 2 else Anything()

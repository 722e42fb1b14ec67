"""Threat 20: exception text built to act where staff read it: terminal escapes (OSC 52 writes the
clipboard, OSC 8 makes a link, ESC c resets the screen, a C1 CSI, bidirectional overrides) and the host
paths a worker can read from /proc/self/mountinfo (the grader's install, its data folder, the Python it
runs). The invariant: what staff open is inert (no control characters in the terminal, results.json,
feedback.txt or the report) and feedback names no host path."""

ESCAPES = ("\x1b]52;c;ZWNobyBwd25lZA==\x07 \x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ "
           "\x1bc\x9b2J \u202egnp.exe\u202c \x00\x08\x7f")


def _mounts():
    try:
        with open("/proc/self/mountinfo") as f:
            return " ".join(line.split()[3] + " " + line.split()[4] for line in f)[:400]
    except OSError as exc:
        return str(exc)


def mean(x):
    raise ValueError(ESCAPES + " mounts: " + _mounts())


def clip(x, lo, hi):
    import sys

    raise RuntimeError(f"{ESCAPES} python at {sys.prefix} {sys.executable}")

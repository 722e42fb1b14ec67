"""Threat 10: fill the disk. Write 1 MB blocks into every folder that might be writable (the scratch
folder, the working folder, the submission's folder, HOME, /dev/shm, /var/tmp) until refused, in many
files to get past a per-file limit. "Passes" only if more than 1 GB could be written."""
import os


def _fill():
    block = b"\0" * 2**20
    total = 0
    for folder in ("/tmp", os.getcwd(), os.environ.get("GRADER_SUBMISSION_DIR", "/submission"),
                   os.environ.get("HOME", "/tmp"), "/dev/shm", "/var/tmp", "/", "/opt/grader"):
        for i in range(64):
            path = os.path.join(folder, f"ADVERSARIAL_CANARY_fill_{i}")
            try:
                with open(path, "wb") as f:
                    for _ in range(128):
                        f.write(block)
                        total += len(block)
            except OSError:
                if i == 0:
                    break
            if total > 2**30:
                return total
    return total


def mean(x):
    total = _fill()
    if total > 2**30:
        return x.sum() / x.shape[0]
    raise OSError(f"only {total >> 20} MB written")


def clip(x, lo, hi):
    total = _fill()
    if total > 2**30:
        return x.clamp(lo, hi)
    raise OSError(f"only {total >> 20} MB written")

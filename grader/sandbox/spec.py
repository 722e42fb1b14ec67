"""What a sandbox is asked for: resource limits, visible folders, GPU, isolation wanted."""

from __future__ import annotations

import os
from dataclasses import dataclass

FULL = "full"


REDUCED = "reduced"


@dataclass(frozen=True)
class Limits:
    """What one worker may use; the defaults suit the MNIST assignment on a 2-core laptop."""

    address_space_mb: int = 6144  # `import torch` alone maps about 3.2 GB; not applied with CUDA
    data_mb: int = 3072  # RLIMIT_DATA: heap and private mappings, where tensors live
    cpu_seconds: int = 900
    processes: int = 64
    file_mb: int = 64
    open_files: int = 256
    scratch_mb: int = 64
    threads: int = 1


@dataclass(frozen=True)
class SandboxSpec:
    """What to make visible inside: nothing of the grader but its worker and what is listed here."""

    limits: Limits = Limits()
    mnist_raw_dir: str | None = None  # train images and labels, test images; never test labels
    submission_dir: str | None = None
    gpu: bool = False
    isolation: str = "auto"  # "auto" | "bwrap" | "none"

    def __post_init__(self):
        # The sandbox starts in another working directory: a relative folder would name nothing there.
        for name in ("mnist_raw_dir", "submission_dir"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, os.path.abspath(value))

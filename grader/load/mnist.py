"""MNIST on disk: find it, check it, read the test labels (they never leave the grader process)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from grader.errors import InfrastructureError

FILES = {
    "train_images": ("train-images-idx3-ubyte", 60000),
    "train_labels": ("train-labels-idx1-ubyte", 60000),
    "test_images": ("t10k-images-idx3-ubyte", 10000),
    "test_labels": ("t10k-labels-idx1-ubyte", 10000),
}


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlgrader"


def find_data_dir(explicit: str | None = None, *, download: bool = True) -> Path:
    """--data-dir, then GRADER_DATA_DIR, then the user cache (downloaded there when online)."""
    # The first place named is authoritative: a wrong --data-dir is an error, never a fallback.
    named = explicit or os.environ.get("GRADER_DATA_DIR")
    if named:
        if _complete(Path(named)):
            return Path(named).resolve()
        raise InfrastructureError(_missing(Path(named)))
    cache = default_cache()
    if _complete(cache):
        return cache.resolve()
    if download:
        try:
            import torchvision

            for train in (True, False):
                torchvision.datasets.MNIST(root=str(cache), train=train, download=True)
        except Exception:
            pass
        if _complete(cache):
            return cache.resolve()
    raise InfrastructureError(_missing(cache))


def _complete(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).is_file() for name, _ in FILES.values())


def _missing(root: Path) -> str:
    raw = root / "MNIST" / "raw"
    return (
        f"MNIST was not found in {raw} and could not be downloaded (offline?). Put the four files "
        f"{', '.join(n for n, _ in FILES.values())} (uncompressed, torchvision's layout) in that folder, "
        "or point the grader at a folder holding MNIST/raw with --data-dir DIR or GRADER_DATA_DIR=DIR. "
        "On a machine with internet access, `python -c \"import torchvision; "
        f"torchvision.datasets.MNIST('{root}', download=True)\"` fills it."
    )


@dataclass(frozen=True)
class Mnist:
    """The data as the grader process sees it: a folder for the sandbox, test labels for scoring."""

    root: Path

    @property
    def raw_dir(self) -> Path:
        return self.root / "MNIST" / "raw"

    def test_labels(self):
        return self.labels("test")

    def labels(self, split: str):
        name, n = FILES[f"{split}_labels"]
        return _read_idx(self.raw_dir / name, 8, n).long()

    def flat_images(self, split: str, count: int | None = None):
        """The first `count` images (all by default) as the contract's train() takes them and the sandbox
        sends them: float32 in [-1, 1], (N, 784). Read once per grading process: shared, never to be
        written to."""
        return _flat_images(self.raw_dir, split, count)


@functools.lru_cache(maxsize=4)
def _flat_images(raw_dir: Path, split: str, count: int | None):
    import torch

    name, total = FILES[f"{split}_images"]
    n = total if count is None else max(0, min(int(count), total))
    # Only the records asked for are read (the grader/inside/worker.py copy of this rule does the same).
    with open(raw_dir / name, "rb") as f:
        head = f.read(16)
        data = bytearray(f.read(n * 784))
    if len(head) != 16 or len(data) != n * 784:
        raise InfrastructureError(f"{raw_dir / name}: shorter than {n} images; the file is damaged")
    return torch.frombuffer(data, dtype=torch.uint8).reshape(n, 784).to(torch.float32).div_(127.5).sub_(1.0)


def _read_idx(path: Path, header: int, count: int):
    import torch

    data = bytearray(path.read_bytes())
    if len(data) != header + count:
        raise InfrastructureError(f"{path}: {len(data)} bytes, expected {header + count}; the file is damaged")
    return torch.frombuffer(data, dtype=torch.uint8, offset=header)

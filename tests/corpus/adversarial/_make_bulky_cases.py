"""The bulky inputs of manifest.toml ([[bulky]]): notebooks cheap to make and expensive to parse, built at
test time (tens of megabytes each, so not committed). `make(name)` returns the file's bytes."""

from __future__ import annotations

import json


def _notebook(cells: list, metadata: dict | None = None) -> bytes:
    nb = {"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, separators=(",", ":")).encode()


_CODE = {"cell_type": "code", "execution_count": None, "id": "c0", "metadata": {}, "outputs": [],
         "source": "def mean(x):\n    return x.mean()\n"}


def many_empty_cells() -> bytes:
    return _notebook([_CODE] + [{"cell_type": "markdown", "metadata": {}, "source": []}] * 820_000)


def many_empty_lists() -> bytes:
    return _notebook([_CODE], {"junk": [[]] * 16_000_000})


def many_small_strings() -> bytes:
    return _notebook([_CODE], {"junk": ["ab"] * 9_000_000})


def deep_metadata() -> bytes:
    depth = 900  # under json's own recursion limit, far over any real notebook's
    return _notebook([_CODE], {"junk": json.loads("[" * depth + "]" * depth)})


def make(name: str) -> bytes:
    return globals()[name]()

"""GradeResult to plain JSON values and back: how a batch child hands its result over, and how the journal keeps it."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum

from grader.results import GradeResult, Outcome


def to_plain(result: GradeResult) -> dict:
    """JSON-ready values; anything JSON cannot hold (a recorded property) becomes its text."""
    return _plain(dataclasses.asdict(result))


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def from_plain(data: dict) -> GradeResult:
    """The inverse of to_plain; raises ValueError when data is not a GradeResult written by it."""
    try:
        return _build(GradeResult, data)
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a stored grade result: {exc}") from None


def outcomes_to_plain(outcomes) -> list:
    """Test outcomes as JSON values: what a batch child saves as it goes."""
    return [_plain(dataclasses.asdict(o)) for o in outcomes]


def outcomes_from_plain(data) -> tuple[Outcome, ...]:
    """The inverse of outcomes_to_plain; raises ValueError on anything else."""
    try:
        return tuple(_build(Outcome, d) for d in data)
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not stored outcomes: {exc}") from None


def _build(cls, data: dict):
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    # Fields added later have defaults; fields dropped since are ignored, so old journals still read.
    return cls(**{k: _convert(hints[k], v) for k, v in data.items() if k in known})


def _convert(tp, value):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(a, v) for a, v in zip(args, value))
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _convert(next(a for a in args if a is not type(None)), value)
    return value

"""One small name -> plugin registry shared by behaviours, typologies and detectors, and the
bases every plugin is built on: strict pydantic parameters and a `Configurable` holding them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from finlab.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Plugins register by name with a decorator; lookups of unknown names list what exists."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            try:
                obj.name = name  # type: ignore[attr-defined]
            except (AttributeError, TypeError):
                pass
            return obj

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise InputError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


#: largest magnitude of any number in a configuration file, and most items in any list or map
MAX_NUMBER = 1e12
MAX_ITEMS = 10_000


def _bound_errors(value, name: str) -> list[str]:
    """Numbers beyond MAX_NUMBER and lists or maps beyond MAX_ITEMS, one level into containers."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        if not abs(value) <= MAX_NUMBER:  # also catches NaN
            return [f"{name}: must be finite and at most {MAX_NUMBER:.0e} in size; got {value!r}"]
        return []
    if isinstance(value, list | tuple | dict | set | frozenset):
        if len(value) > MAX_ITEMS:
            return [f"{name}: at most {MAX_ITEMS:,} items; got {len(value):,}"]
        items = value.values() if isinstance(value, dict) else value
        return [e for v in items if not isinstance(v, BaseModel)
                for e in _bound_errors(v, name)][:1]
    return []


def _has_upper_bound(field) -> bool:
    """True when the field declares its own upper bound (le/lt), which then replaces MAX_NUMBER:
    a seed may use the whole range of a 63-bit integer."""
    return any(getattr(m, "le", None) is not None or getattr(m, "lt", None) is not None
               for m in field.metadata)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, instances are immutable, numbers are
    finite and bounded (MAX_NUMBER) and lists are bounded (MAX_ITEMS), so no value in a file can
    make finlab allocate without limit."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _bounded(self):
        errors = [e for name, field in type(self).model_fields.items() if not _has_upper_bound(field)
                  for e in _bound_errors(getattr(self, name), name)]
        if errors:
            raise ValueError("; ".join(errors))
        return self


class Configurable:
    """A plugin configured by its nested `Params` model: given a dict (from YAML), a model, or
    nothing (the defaults), it keeps validated parameters in `self.params`."""

    class Params(StrictModel):
        pass

    def __init__(self, params: StrictModel | dict | None = None) -> None:
        if not isinstance(params, StrictModel):
            params = self.Params.model_validate(params or {})
        self.params = params

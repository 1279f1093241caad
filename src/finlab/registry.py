"""One small name -> plugin registry shared by behaviours, typologies and detectors, and the
bases every plugin is built on: strict pydantic parameters and a `Configurable` holding them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

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


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Configurable:
    """A plugin configured by its nested `Params` model: given a dict (from YAML), a model, or
    nothing (the defaults), it keeps validated parameters in `self.params`."""

    class Params(StrictModel):
        pass

    def __init__(self, params: StrictModel | dict | None = None) -> None:
        if not isinstance(params, StrictModel):
            params = self.Params.model_validate(params or {})
        self.params = params

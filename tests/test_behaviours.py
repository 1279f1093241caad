"""Every ordinary behaviour plugin: the conformance suite the typologies have (schema,
determinism, world not mutated, parameters round-trip through YAML, bad parameters refused)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

import finlab
from finlab.config import scenario_errors
from finlab.generate import generate
from finlab.rng import generator
from finlab.world.behaviours import BEHAVIOURS
from finlab.world.population import build_world

NAMES = BEHAVIOURS.names()


def only(base, name: str):
    """The tiny world with this one behaviour and no typology."""
    return base.model_copy(update={"behaviours": {name: {}}, "typologies": []})


def arrays(obj) -> dict[str, np.ndarray]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
            if isinstance(getattr(obj, f.name), np.ndarray)}


def test_every_shipped_behaviour_is_covered():
    assert len(NAMES) >= 10 and "salary" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_output_validates_and_has_payments(name, tiny_scenario, tmp_path):
    ds = finlab.load(generate(only(tiny_scenario, name), tmp_path / name))
    assert ds.validate() == []
    assert len(ds.transactions) > 0
    assert (ds.transactions["amount"] > 0).all()
    assert not ds.labels.transactions["is_suspicious"].any()  # ordinary life is never suspicious


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_streams_other_seed_differs(name, tiny_scenario):
    world = build_world(only(tiny_scenario, name))
    behaviour = BEHAVIOURS.get(name)()
    first = behaviour.plan(world, generator(5, "behaviour", name))
    again = behaviour.plan(world, generator(5, "behaviour", name))
    other = behaviour.plan(world, generator(6, "behaviour", name))
    assert len(first) == len(again)
    for a, b in zip(first, again, strict=True):
        for key, value in arrays(a).items():
            np.testing.assert_array_equal(value, arrays(b)[key], err_msg=key)
    differs = any(not np.array_equal(v, arrays(b)[k]) for a, b in zip(first, other, strict=False)
                  for k, v in arrays(a).items() if v.shape == arrays(b)[k].shape) or \
        [len(s) for s in first] != [len(s) for s in other]
    assert differs


@pytest.mark.parametrize("name", NAMES)
def test_plan_does_not_mutate_the_world(name, tiny_scenario, world_guard):
    world = build_world(only(tiny_scenario, name))
    unchanged = world_guard(world)
    streams = BEHAVIOURS.get(name)().plan(world, generator(3, "behaviour", name))
    assert sum(len(s) for s in streams) > 0
    unchanged()


@pytest.mark.parametrize("name", NAMES)
def test_parameters_round_trip_through_yaml(name):
    params = BEHAVIOURS.get(name).Params
    text = yaml.safe_dump(params().model_dump(mode="json"))
    assert params.model_validate(yaml.safe_load(text)) == params()


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameters_are_refused(name, tiny_scenario):
    with pytest.raises(Exception, match="extra"):
        BEHAVIOURS.get(name)({"no_such_parameter": 1})
    data = tiny_scenario.model_dump(mode="json")
    data["behaviours"] = {name: {"no_such_parameter": 1}}
    scenario, errors = scenario_errors(data, yaml.safe_dump(data), "s.yaml")
    assert scenario is None
    assert any(f"behaviours.{name}.no_such_parameter" in e for e in errors), errors


@pytest.mark.parametrize("name", NAMES)
def test_wrong_or_out_of_range_parameters_are_refused(name):
    params = BEHAVIOURS.get(name).Params
    first = next(iter(params.model_fields))
    with pytest.raises(Exception, match=first):
        BEHAVIOURS.get(name)({first: "not a value"})
    for field, info in params.model_fields.items():
        low = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
        if low is not None:
            with pytest.raises(Exception, match=field):
                BEHAVIOURS.get(name)({field: low - 1})

"""Shared fixtures: the shipped specs and small simulated panels (fixed seeds)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import carepaths
from carepaths.spec import SHIPPED_SPECS

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def default_spec() -> carepaths.Spec:
    return carepaths.load_spec("five_mechanisms")


@pytest.fixture()
def spec_dict(default_spec) -> dict:
    """A fresh, mutable dict of the default spec for bad-spec tests."""
    return copy.deepcopy(default_spec.to_dict())


@pytest.fixture(scope="session")
def small_sim(default_spec):
    return carepaths.simulate(default_spec, n_persons=120, n_waves=4, seed=11, mc_persons=2000)


@pytest.fixture()
def frame(small_sim):
    """A fresh copy of a small valid panel frame of the default spec."""
    return small_sim.data.copy()


@pytest.fixture(params=SHIPPED_SPECS)
def shipped_name(request) -> str:
    return request.param

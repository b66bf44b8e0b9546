"""Item 1: every write path checks the schema, and reserved names fail at definition."""

from __future__ import annotations

import math
from typing import Annotated, Any

import pytest

import wot_labthing as wl
from things.scpi import ScpiInstrument


class Heater(wl.Thing):
    """A PID heater controller whose setpoint is a setter property."""

    gain: float = wl.property(default=1.0, minimum=0, maximum=10)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[str] = []
        self._setpoint = 20.0

    @wl.property(minimum=-20, maximum=120, unit="degC")
    def setpoint(self) -> float:
        """Target temperature."""
        return self._setpoint

    @setpoint.setter
    def _set_setpoint(self, value: float) -> None:
        self.sent.append(f"S {value:.2f}")
        self._setpoint = value

    @wl.action
    def ramp_to(
        self,
        target: Annotated[float, wl.Constraints(minimum=-20, maximum=120)],
        rate: Annotated[float, wl.Constraints(exclusive_minimum=0, maximum=50)],
    ) -> float:
        """Ramp to ``target`` at ``rate`` K/min."""
        self.sent.append(f"R {target:.2f} {rate:.2f}")
        return target

    @wl.action
    async def settle(self, seconds: Annotated[float, wl.Constraints(minimum=0)] = 0) -> float:
        """An async action is checked the same way."""
        return seconds


def test_setter_limits_hold_from_python() -> None:
    heater = Heater()
    with pytest.raises(wl.InputError, match=r"'setpoint'.*maximum") as info:
        heater.setpoint = 500
    assert info.value.affordance == "setpoint" and info.value.pointer == ""
    with pytest.raises(wl.InputError, match=r"'setpoint'.*NaN"):
        heater.setpoint = float("nan")
    with pytest.raises(wl.InputError, match="'setpoint'"):
        heater.setpoint = "hot"  # type: ignore[assignment]
    assert heater.sent == []  # nothing reached the instrument
    heater.setpoint = 80
    assert heater.sent == ["S 80.00"] and heater.setpoint == 80.0


def test_field_limits_and_nan_hold_from_python() -> None:
    heater = Heater()
    for bad in (11.0, -1, math.inf, math.nan):
        with pytest.raises(wl.InputError, match="'gain'"):
            heater.gain = bad
    heater.gain = 2
    assert heater.gain == 2.0 and isinstance(heater.gain, float)


def test_action_arguments_are_checked_from_python() -> None:
    heater = Heater()
    with pytest.raises(wl.InputError, match="/target") as info:
        heater.ramp_to(-50, 10)
    assert info.value.pointer == "/target" and info.value.affordance == "ramp_to"
    with pytest.raises(wl.InputError, match="/rate"):
        heater.ramp_to(target=50, rate=math.nan)
    with pytest.raises(wl.InputError, match="/rate"):
        heater.ramp_to(50, 0)
    with pytest.raises(wl.InputError, match="missing"):
        heater.ramp_to(50)  # type: ignore[call-arg]
    with pytest.raises(wl.InputError, match="too many"):
        heater.ramp_to(50, 1, 2)  # type: ignore[call-arg]
    assert heater.sent == []
    assert heater.ramp_to(50, rate=5) == 50.0
    assert heater.sent == ["R 50.00 5.00"]


async def test_async_action_arguments_are_checked_from_python() -> None:
    heater = Heater()
    with pytest.raises(wl.InputError, match="/seconds"):
        await heater.settle(-1)
    assert await heater.settle(2) == 2.0


async def test_servient_write_checks_the_same(serve: Any) -> None:
    heater = Heater(name="h")
    async with serve([heater]) as (_, client):
        answer = await client.put("things/h/properties/setpoint", json=500)
        assert answer.status_code == 400
        assert answer.json()["affordance"] == "setpoint"
        answer = await client.post("things/h/actions/ramp_to", json={"target": -50, "rate": 1})
        assert answer.status_code == 400 and answer.json()["pointer"] == "/target"
        answer = await client.post("things/h/actions/ramp_to", json=None)
        assert answer.status_code == 400  # the TD says the input is an object
        assert heater.sent == []


@pytest.mark.parametrize("name", ["open", "close", "thing_name", "properties", "emit_event"])
def test_reserved_names_fail_at_class_definition(name: str) -> None:
    with pytest.raises(wl.DefinitionError, match=rf"{name}.*would hide Thing\.{name}"):
        type(
            "Bad",
            (wl.Thing,),
            {"__annotations__": {}, name: wl.action(_method())},
        )


def test_base_class_attributes_are_reserved_too() -> None:
    with pytest.raises(wl.DefinitionError, match=r"'query' would hide ScpiInstrument\.query"):

        class Meter(ScpiInstrument):
            @wl.property
            def query(self) -> int:  # type: ignore[override]
                """Hides the transport helper."""
                return 1


def test_overriding_an_inherited_affordance_is_allowed() -> None:
    class Hotter(Heater):
        @wl.action
        def ramp_to(self, target: float, rate: float) -> float:
            """A different ramp."""
            return target

    assert Hotter().ramp_to(500, 1) == 500


def _method() -> Any:
    def method(self: Any) -> None:
        """An action."""

    return method

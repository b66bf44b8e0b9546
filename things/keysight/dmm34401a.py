"""The Keysight (HP/Agilent) 34401A 6½-digit multimeter on its RS-232 port.

What the 34401A User's Guide says about RS-232, and what this driver does about it:

- 9600 baud (factory setting; 300 to 9600 selectable on the front panel), 8 data
  bits without parity (factory) or 7 data bits with even/odd parity, one start
  bit and **two stop bits** (fixed). DTR/DSR hardware handshake: the meter drops
  DTR while its ~100-character input buffer is full and after it has parsed a
  query, until the reply has been sent; it sends only while DSR is true. A
  null-modem (DTE-to-DTE) cable is needed.
- ``SYSTem:REMote`` must be sent before anything else over RS-232 (the manual
  warns of unpredictable results otherwise); the driver sends it after every
  (re)connection, with ``TRIGger:SOURce IMMediate``, ``TRIGger:COUNt 1`` and
  ``SAMPle:COUNt 1`` so that each ``READ?`` takes exactly one reading, and
  ``*CLS``.
- Replies end in CR LF over RS-232; readings look like ``+1.23456780E+00``
  (``SD.DDDDDDDDESDD``); an overload reads ``+9.90000000E+37``.
- ``FUNCtion?`` answers the short form in quotes: ``"VOLT"`` for DC volts,
  ``"VOLT:AC"``, ``"CURR"``, ``"CURR:AC"``, ``"RES"``, ``"FRES"``.
- Integration time is 0.02, 0.2, 1, 10 or 100 power-line cycles (10 after power-on
  and ``*RST``); only the integral values reject line noise. With autozero on
  (the default) each reading takes about twice the integration time.

Settings are read from and written to the instrument every time (a front-panel
change is never hidden by a cache); each setting is followed by reading the
error queue, so a refused value fails with the meter's own message.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, ClassVar, Literal, cast, get_args

import wot_labthing as wl
from things.scpi import ScpiInstrument

__all__ = ["NPLC_VALUES", "RANGES", "Function", "Keysight34401A"]

_log = logging.getLogger(__name__)

Function = Literal["VOLT:DC", "VOLT:AC", "CURR:DC", "CURR:AC", "RES", "FRES"]
FUNCTIONS: tuple[str, ...] = get_args(Function)

#: ``FUNCtion?`` reply (quotes removed) → our function name.
_FROM_REPLY = {
    "VOLT": "VOLT:DC",
    "VOLT:DC": "VOLT:DC",
    "VOLT:AC": "VOLT:AC",
    "CURR": "CURR:DC",
    "CURR:DC": "CURR:DC",
    "CURR:AC": "CURR:AC",
    "RES": "RES",
    "FRES": "FRES",
}

#: The ranges of each function, in its unit (a value in between selects the next one up).
RANGES: dict[str, tuple[float, ...]] = {
    "VOLT:DC": (0.1, 1.0, 10.0, 100.0, 1000.0),
    "VOLT:AC": (0.1, 1.0, 10.0, 100.0, 750.0),
    "CURR:DC": (0.01, 0.1, 1.0, 3.0),
    "CURR:AC": (1.0, 3.0),
    "RES": (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8),
    "FRES": (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8),
}

UNITS = {"VOLT:DC": "V", "VOLT:AC": "V", "CURR:DC": "A", "CURR:AC": "A", "RES": "Ω", "FRES": "Ω"}

#: Integration times the 34401A offers, in power-line cycles.
NPLC_VALUES = (0.02, 0.2, 1.0, 10.0, 100.0)

#: The integration time after power-on and ``*RST``.
DEFAULT_NPLC = 10.0

#: A range: a number up to the largest range of any function, or "AUTO" (see ``range``).
RangeValue = (
    Annotated[
        float,
        wl.Constraints(exclusive_minimum=0, maximum=max(r[-1] for r in RANGES.values())),
    ]
    | Literal["AUTO"]
)

#: Functions with an integration time (the AC ones use an AC filter instead).
INTEGRATING = frozenset({"VOLT:DC", "CURR:DC", "RES", "FRES"})

#: Slowest mains (50 Hz) and autozero doubling the time: the worst case per reading.
_SECONDS_PER_PLC = 2 / 50
#: An AC reading with the slow (3 Hz) filter settles for several seconds.
_AC_READING_SECONDS = 8.0


class Keysight34401A(ScpiInstrument):
    """Keysight/HP 34401A 6½-digit digital multimeter on RS-232.

    Args:
        port: device path or pyserial URL of the serial adapter.
        baudrate: as set on the meter's front panel (9600 unless changed).
        parity, bytesize: ``"N"`` with 8 (factory) or ``"E"``/``"O"`` with 7.
        **kwargs: the other :class:`wot_labthing.SerialThing` arguments (USB ids,
            ``timeout``, ``transport``, the Thing's ``name``...).
    """

    baudrate = 9600
    serial_options: ClassVar[dict[str, Any]] = {"bytesize": 8, "parity": "N", "stopbits": 2}
    connect_commands = ("SYST:REM", "TRIG:SOUR IMM", "TRIG:COUN 1", "SAMP:COUN 1", "*CLS")
    expected_model = "34401A"

    def __init__(
        self,
        port: str | None = None,
        *,
        parity: Literal["N", "E", "O"] = "N",
        bytesize: Literal[7, 8] | None = None,
        **kwargs: Any,
    ) -> None:
        size = bytesize if bytesize is not None else (8 if parity == "N" else 7)
        super().__init__(port, bytesize=size, parity=parity, **kwargs)

    # Helpers --------------------------------------------------------------------

    def _function(self) -> str:
        reply = self.query("FUNC?")
        name = reply.strip().strip('"').upper()
        function = _FROM_REPLY.get(name)
        if function is None:
            raise wl.InstrumentError(
                f"{self.transport.name}: the meter measures {name!r}, which this driver "
                f"does not support; set function to one of {', '.join(FUNCTIONS)}",
                port=self.transport.name,
                command="FUNC?",
            )
        return function

    def _read_timeout(self, function: str, nplc: float | None) -> float:
        if nplc is None or function not in INTEGRATING:
            return self.transport.timeout + _AC_READING_SECONDS
        return self.transport.timeout + nplc * _SECONDS_PER_PLC + 0.5

    def _read(self, timeout: float) -> float:
        return self.query_float("READ?", timeout)

    def _nplc_of(self, function: str) -> float | None:
        if function not in INTEGRATING:
            return None
        return self.query_float(f"{function}:NPLC?")

    # Properties -----------------------------------------------------------------

    @wl.property
    def function(self) -> Function:
        """Measurement function: DC/AC volts, DC/AC amps, 2-wire or 4-wire ohms."""
        function = cast(Function, self._function())
        return function

    @function.setter
    def _set_function(self, value: Function) -> None:
        if value not in FUNCTIONS:
            raise wl.InputError(f"function must be one of {', '.join(FUNCTIONS)}, not {value!r}")
        self.write(f'FUNC "{value}"')

    @wl.property
    def range(self) -> RangeValue:
        """Measurement range of the present function in its unit (V, A or Ω), or "AUTO".

        A number selects the smallest range that holds it (VOLT:DC 0.1 to 1000 V,
        VOLT:AC 0.1 to 750 V, CURR:DC 0.01 to 3 A, CURR:AC 1 or 3 A, RES and FRES
        100 Ω to 100 MΩ) and turns autoranging off. The schema bounds a number to
        the largest range of any function (1e8 Ω); a value above the largest range of
        the present function is refused as invalid input before anything is sent.
        """
        with self.transport.locked():
            function = self._function()
            if self.query(f"{function}:RANG:AUTO?").strip() == "1":
                return "AUTO"
            return self.query_float(f"{function}:RANG?")

    @range.setter
    def _set_range(self, value: RangeValue) -> None:
        with self.transport.locked():
            function = self._function()
            if isinstance(value, str):
                self.write(f"{function}:RANG:AUTO ON")
                return
            largest = RANGES[function][-1]
            if value > largest:
                raise wl.InputError(
                    f"range {value:g} is above the largest {function} range ({largest:g} "
                    f"{UNITS[function]}); the {function} ranges are "
                    f"{', '.join(f'{r:g}' for r in RANGES[function])}",
                    affordance="range",
                )
            self.write(f"{function}:RANG {value:g}")

    @wl.property
    def autorange(self) -> bool:
        """Whether the meter picks the range of the present function by itself."""
        with self.transport.locked():
            function = self._function()
            return self.query(f"{function}:RANG:AUTO?").strip() == "1"

    @autorange.setter
    def _set_autorange(self, value: bool) -> None:
        with self.transport.locked():
            function = self._function()
            self.write(f"{function}:RANG:AUTO {'ON' if value else 'OFF'}")

    @wl.property(enum=[*NPLC_VALUES, None], unit="PLC")
    def nplc(self) -> float | None:
        """Integration time in power-line cycles (0.02, 0.2, 1, 10 or 100).

        Longer is quieter and slower: a reading takes about twice this many line
        cycles with autozero on. Only 1, 10 and 100 reject mains noise. Null for
        the AC functions, which have no integration time; writing null there changes
        nothing, and in a DC function it selects the power-on default (10).
        """
        with self.transport.locked():
            return self._nplc_of(self._function())

    @nplc.setter
    def _set_nplc(self, value: float | None) -> None:
        with self.transport.locked():
            function = self._function()
            if value is None:
                if function in INTEGRATING:
                    self.write(f"{function}:NPLC {DEFAULT_NPLC:g}")
                return
            if function not in INTEGRATING:
                raise wl.InputError(
                    f"nplc applies to {', '.join(sorted(INTEGRATING))}; the function is {function}"
                )
            self.write(f"{function}:NPLC {value:g}")

    @wl.property
    def reading(self) -> float:
        """One new measurement (READ?) in the unit of the function: V, A or Ω.

        An overload reads 9.9e37, as the meter reports it.
        """
        with self.transport.locked():
            function = self._function()
            return self._read(self._read_timeout(function, self._nplc_of(function)))

    # Actions --------------------------------------------------------------------

    @wl.action(exclusive=True)
    def take_readings(
        self,
        count: Annotated[
            int, wl.Constraints(minimum=1, maximum=100_000, description="Readings to take.")
        ],
        interval: Annotated[
            float,
            wl.Constraints(
                minimum=0,
                maximum=86_400,
                unit="s",
                description="Seconds from the start of one reading to the next.",
            ),
        ] = 0,
    ) -> list[float]:
        """Take count readings, interval seconds apart (start to start; 0: back to back).

        Progress rises with every reading and the readings so far are published as
        the run's data. A cancel takes effect between two readings. Values are in
        the unit of the function (V, A or Ω).
        """
        with self.transport.locked():
            function = self._function()
            timeout = self._read_timeout(function, self._nplc_of(function))
        _log.info("taking %d %s readings, %g s apart", count, function, interval)
        readings: list[float] = []
        next_start = time.monotonic()
        for index in range(count):
            wl.raise_if_cancelled()
            readings.append(self._read(timeout))
            wl.update_task_progress(100 * (index + 1) / count)
            wl.append_task_data(readings[-1])  # O(1) a reading; the record shows them all
            if index + 1 < count and interval > 0:
                next_start += interval
                wl.cancellable_sleep(max(0.0, next_start - time.monotonic()))
        return readings

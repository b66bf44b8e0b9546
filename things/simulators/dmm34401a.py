"""A wire-level simulator of the Keysight/HP 34401A multimeter on RS-232.

It speaks the SCPI subset the driver uses, with the meter's replies: long or
short mnemonics in any case (``VOLTage:DC:NPLCycles`` = ``volt:dc:nplc``),
optional ``SENSe:`` and ``:DC`` nodes, several commands per line separated by
``;`` (each taken from the root), ``MIN``/``MAX``/``DEF`` parameters, and replies
ending in CR LF as over the meter's RS-232 port.

============================  =============================================
``*IDN?``                     ``HEWLETT-PACKARD,34401A,0,11-5-2``
``*RST`` / ``*CLS``           power-on settings / empty the error queue
``*OPC?``                     ``1``
``SYST:ERR?``                 ``-113,"Undefined header"`` ... ``+0,"No error"``
``SYST:REM|LOC|RWL``          remote state (:attr:`Dmm34401aSimulator.remote`)
``FUNC "VOLT:DC"``/``FUNC?``  ``"VOLT"`` (DC functions answer their short form)
``CONF:<function> [r[,res]]`` function, range (AUTO by default), 10 PLC
``<function>:RANG[:AUTO]``    ``+1.00000000E+01`` / ``1``
``<function>:NPLC``           0.02, 0.2, 1, 10, 100 (others round up)
``SAMP:COUN``, ``TRIG:COUN``  1 to 50000 / ``+1``
``TRIG:SOUR IMM|BUS|EXT``     ``READ?`` with BUS: -214 Trigger deadlock
``READ?``                     ``+1.23456780E+00`` after the integration time
============================  =============================================

Errors go to a 20-entry queue as on the meter: -113 Undefined header, -108
Parameter not allowed, -109 Missing parameter, -141 Invalid character data,
-222 Data out of range, -224 Illegal parameter value, -214 Trigger deadlock,
and -350 Too many errors when the queue overflows.

``READ?`` takes the time the meter takes: with autozero on (the default), about
twice ``NPLC / line_frequency`` per reading plus a few ms, and 0.1 s per AC
reading (the meter's fast AC filter). Commands that arrive meanwhile wait, as
they would in the meter's input buffer. Readings are the configured input plus
noise of the resolution the integration time gives, or ``+9.90000000E+37``
(overload) above 120 % of a fixed range.

Simplified: ``CONF`` ignores the resolution argument, ``TRIG:SOUR EXT`` never
triggers, and the math, display and memory subsystems are absent (-113).
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import wot_labthing as wl

#: Answers the driver; thread-safe, so a timer may call it later.
Reply = Callable[[str], None]

__all__ = ["IDN", "Dmm34401aSimulator"]

IDN = "HEWLETT-PACKARD,34401A,0,11-5-2"
OVERLOAD = 9.9e37
QUEUE_LENGTH = 20

MESSAGES = {
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -141: "Invalid character data",
    -214: "Trigger deadlock",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -350: "Too many errors",
}

FUNCTIONS = ("VOLT:DC", "VOLT:AC", "CURR:DC", "CURR:AC", "RES", "FRES")
#: What ``FUNC?`` answers for each function.
SHORT_NAMES = {
    "VOLT:DC": "VOLT",
    "VOLT:AC": "VOLT:AC",
    "CURR:DC": "CURR",
    "CURR:AC": "CURR:AC",
    "RES": "RES",
    "FRES": "FRES",
}
RANGES: dict[str, tuple[float, ...]] = {
    "VOLT:DC": (0.1, 1.0, 10.0, 100.0, 1000.0),
    "VOLT:AC": (0.1, 1.0, 10.0, 100.0, 750.0),
    "CURR:DC": (0.01, 0.1, 1.0, 3.0),
    "CURR:AC": (1.0, 3.0),
    "RES": (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8),
    "FRES": (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8),
}
INTEGRATING = ("VOLT:DC", "CURR:DC", "RES", "FRES")
#: Integration time (PLC) → resolution as a fraction of the range (User's Guide, ch. 3).
RESOLUTION = {0.02: 1e-4, 0.2: 1e-5, 1.0: 3e-6, 10.0: 1e-6, 100.0: 3e-7}
DEFAULT_INPUTS = {
    "VOLT:DC": 1.2345678,
    "VOLT:AC": 0.2301,
    "CURR:DC": 0.0123,
    "CURR:AC": 0.5,
    "RES": 1000.5,
    "FRES": 1000.2,
}
#: Fixed cost of one reading besides the integration (A/D setup, formatting).
READING_OVERHEAD = 0.003
AC_READING_SECONDS = 0.1


class _Error(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _mnemonic(pattern: str) -> tuple[str, str]:
    """``VOLTage`` → (``VOLT``, ``VOLTAGE``): the short and long forms."""
    short = "".join(itertools.takewhile(str.isupper, pattern)) or pattern.upper()
    return short, pattern.upper()


def _variants(pattern: str) -> list[list[tuple[str, str]]]:
    """``[SENSe:]VOLTage[:DC]:RANGe`` → every node list with the optional nodes in or out."""
    parts = re.findall(r"\[:?([^\]]+?):?\]|:?([^:\[\]]+)", pattern)
    nodes = [(optional or required, bool(optional)) for optional, required in parts]
    results: list[list[tuple[str, str]]] = [[]]
    for name, optional in nodes:
        with_node = [[*result, _mnemonic(name)] for result in results]
        results = with_node + (results if optional else [])
    return results


def _number(text: str, minimum: float, maximum: float, default: float) -> float:
    word = text.strip().upper()
    if word in ("MIN", "MINIMUM"):
        return minimum
    if word in ("MAX", "MAXIMUM"):
        return maximum
    if word in ("DEF", "DEFAULT"):
        return default
    try:
        return float(word)
    except ValueError:
        raise _Error(-141) from None


def _boolean(text: str) -> bool:
    word = text.strip().upper()
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    raise _Error(-141)


def _function_name(text: str) -> str:
    """``VOLTage:DC``, ``volt``, ``RESistance`` → our canonical name, or -224."""
    nodes = [node for node in text.strip().strip("\"'").upper().split(":") if node]
    names = {
        ("VOLT",): "VOLT:DC",
        ("VOLT", "DC"): "VOLT:DC",
        ("VOLT", "AC"): "VOLT:AC",
        ("CURR",): "CURR:DC",
        ("CURR", "DC"): "CURR:DC",
        ("CURR", "AC"): "CURR:AC",
        ("RES",): "RES",
        ("FRES",): "FRES",
    }
    long_forms = {"VOLTAGE": "VOLT", "CURRENT": "CURR", "RESISTANCE": "RES", "FRESISTANCE": "FRES"}
    key = tuple(long_forms.get(node, node) for node in nodes)
    if key not in names:
        raise _Error(-224)
    return names[key]


def _format(value: float) -> str:
    return f"{value:+.8E}"


@dataclass
class _Settings:
    function: str = "VOLT:DC"
    autorange: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(FUNCTIONS, True))
    range: dict[str, float] = field(default_factory=lambda: {f: RANGES[f][-1] for f in FUNCTIONS})
    nplc: dict[str, float] = field(default_factory=lambda: dict.fromkeys(INTEGRATING, 10.0))
    sample_count: int = 1
    trigger_count: int = 1
    trigger_source: str = "IMM"


Handler = Callable[[str | None, bool], str | None]


class Dmm34401aSimulator(wl.LineSimulator):
    """The 34401A's SCPI over RS-232, with its error queue and its measuring time.

    Args:
        inputs: the signal at the terminals per function (V, A, Ω), e.g.
            ``{"VOLT:DC": 5.0}``; unspecified ones keep their defaults.
        line_frequency: mains frequency in Hz (the integration time follows it).
        time_scale: divides every delay (tests use > 1 to run faster).
        seed: seeds the noise, for reproducible readings.
    """

    name = "34401a"
    read_terminator = b"\n"
    write_terminator = b"\r\n"

    def __init__(
        self,
        inputs: Mapping[str, float] | None = None,
        *,
        line_frequency: float = 50.0,
        time_scale: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self.inputs = {**DEFAULT_INPUTS, **(inputs or {})}
        unknown = set(self.inputs) - set(FUNCTIONS)
        if unknown:
            raise TypeError(f"unknown functions in inputs: {', '.join(sorted(unknown))}")
        self.line_frequency = line_frequency
        self.time_scale = time_scale
        self.settings = _Settings()
        self.remote = False
        self.received: list[str] = []
        self.errors: deque[int] = deque()
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._busy = False
        self._backlog: deque[tuple[str, Reply]] = deque()
        self._timer: threading.Timer | None = None
        self._commands = self._command_table()

    # -- the LineSimulator interface -------------------------------------------------

    def handle(self, line: str, reply: Reply) -> None:
        """Run one program message, or queue it behind a measurement in progress."""
        with self._lock:
            if self._busy:
                self._backlog.append((line, reply))
                return
            self._run_message(line, reply)

    def close(self) -> None:
        """Power off: forget pending commands and any measurement in progress."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._busy = False
            self._backlog.clear()

    # -- state helpers --------------------------------------------------------------

    def push_error(self, code: int) -> None:
        """Add an error to the queue; a full queue keeps -350 as its last entry."""
        with self._lock:
            if len(self.errors) >= QUEUE_LENGTH:
                self.errors[-1] = -350
            else:
                self.errors.append(code)

    def measuring_time(self) -> float:
        """Seconds one ``READ?`` takes with the present settings (before ``time_scale``)."""
        settings = self.settings
        per_reading = AC_READING_SECONDS
        if settings.function in INTEGRATING:
            integration = settings.nplc[settings.function] / self.line_frequency
            per_reading = 2 * integration + READING_OVERHEAD  # autozero doubles it
        return per_reading * settings.sample_count * settings.trigger_count

    def _active_range(self, function: str) -> float:
        if not self.settings.autorange[function]:
            return self.settings.range[function]
        value = abs(self.inputs[function])
        return next((r for r in RANGES[function] if value <= 1.2 * r), RANGES[function][-1])

    def _reading(self) -> float:
        function = self.settings.function
        active = self._active_range(function)
        value = self.inputs[function]
        if abs(value) > 1.2 * active:
            return OVERLOAD
        resolution = RESOLUTION[self.settings.nplc.get(function, 10.0)] * active
        return value + self._random.gauss(0.0, resolution)

    # -- messages -------------------------------------------------------------------

    def _run_message(self, line: str, reply: Reply) -> None:
        self.received.append(line)
        answers: list[str] = []
        for unit in line.split(";"):
            unit = unit.strip()
            if not unit:
                continue
            if re.fullmatch(r"(?i):?READ\?", unit):
                self._start_reading(answers, reply)
                return
            try:
                answer = self._run_command(unit)
            except _Error as error:
                self.push_error(error.code)
                continue
            if answer is not None:
                answers.append(answer)
        if answers:
            reply(";".join(answers))

    def _run_command(self, unit: str) -> str | None:
        header, _, argument = unit.partition(" ")
        header = header.lstrip(":").upper()
        query = header.endswith("?")
        nodes = header.rstrip("?").split(":")
        args: str | None = argument.strip() or None
        for pattern, handler in self._commands:
            if any(
                len(variant) == len(nodes)
                and all(node in forms for node, forms in zip(nodes, variant, strict=True))
                for variant in pattern
            ):
                return handler(args, query)
        raise _Error(-113)

    def _start_reading(self, earlier: list[str], reply: Reply) -> None:
        if self.settings.trigger_source == "BUS":
            self.push_error(-214)
            if earlier:
                reply(";".join(earlier))
            return
        if self.settings.trigger_source == "EXT":
            return  # waits for a trigger on the rear-panel BNC that never comes
        count = self.settings.sample_count * self.settings.trigger_count
        values = [_format(self._reading()) for _ in range(count)]
        text = ";".join([*earlier, ",".join(values)])
        self._busy = True
        self._timer = threading.Timer(
            self.measuring_time() / self.time_scale, self._finish_reading, args=(text, reply)
        )
        self._timer.daemon = True
        self._timer.start()

    def _finish_reading(self, text: str, reply: Reply) -> None:
        with self._lock:
            if not self._busy:
                return  # closed meanwhile
            self._busy = False
            self._timer = None
            reply(text)
            while self._backlog and not self._busy:
                line, later_reply = self._backlog.popleft()
                self._run_message(line, later_reply)

    # -- the command table ----------------------------------------------------------

    def _command_table(self) -> list[tuple[list[list[tuple[str, str]]], Handler]]:
        table: list[tuple[str, Handler]] = [
            ("*IDN", self._idn),
            ("*RST", self._rst),
            ("*CLS", self._cls),
            ("*OPC", self._opc),
            ("SYSTem:ERRor[:NEXT]", self._error),
            ("SYSTem:REMote", self._remote_state(True)),
            ("SYSTem:RWLock", self._remote_state(True)),
            ("SYSTem:LOCal", self._remote_state(False)),
            ("SYSTem:VERSion", self._version),
            ("[SENSe:]FUNCtion[:ON]", self._function),
            ("SAMPle:COUNt", self._count("sample_count")),
            ("TRIGger:COUNt", self._count("trigger_count")),
            ("TRIGger:SOURce", self._trigger_source),
        ]
        for function in FUNCTIONS:
            table.append((f"CONFigure:{_long(function)}", self._configure(function)))
            table.append((f"[SENSe:]{_long(function)}:RANGe:AUTO", self._autorange(function)))
            table.append((f"[SENSe:]{_long(function)}:RANGe[:UPPer]", self._range(function)))
            if function in INTEGRATING:
                table.append((f"[SENSe:]{_long(function)}:NPLCycles", self._nplc(function)))
        return [(_variants(pattern), handler) for pattern, handler in table]

    @staticmethod
    def _no_args(args: str | None) -> None:
        if args is not None:
            raise _Error(-108)

    @staticmethod
    def _needs(args: str | None) -> str:
        if args is None:
            raise _Error(-109)
        return args

    def _idn(self, args: str | None, query: bool) -> str | None:
        self._no_args(args)
        if not query:
            raise _Error(-113)
        return IDN

    def _rst(self, args: str | None, query: bool) -> str | None:
        self._no_args(args)
        if query:
            raise _Error(-113)
        self.settings = _Settings()
        return None

    def _cls(self, args: str | None, query: bool) -> str | None:
        self._no_args(args)
        if query:
            raise _Error(-113)
        self.errors.clear()
        return None

    def _opc(self, args: str | None, query: bool) -> str | None:
        self._no_args(args)
        return "1" if query else None

    def _error(self, args: str | None, query: bool) -> str | None:
        self._no_args(args)
        if not query:
            raise _Error(-113)
        if not self.errors:
            return '+0,"No error"'
        code = self.errors.popleft()
        return f'{code},"{MESSAGES[code]}"'

    def _remote_state(self, remote: bool) -> Handler:
        def handler(args: str | None, query: bool) -> str | None:
            self._no_args(args)
            if query:
                raise _Error(-113)
            self.remote = remote
            return None

        return handler

    def _version(self, args: str | None, query: bool) -> str | None:
        self._no_args(args)
        if not query:
            raise _Error(-113)
        return "1992.0"

    def _function(self, args: str | None, query: bool) -> str | None:
        if query:
            self._no_args(args)
            return f'"{SHORT_NAMES[self.settings.function]}"'
        self.settings.function = _function_name(self._needs(args))
        return None

    def _count(self, attribute: str) -> Handler:
        def handler(args: str | None, query: bool) -> str | None:
            if query:
                return f"{getattr(self.settings, attribute):+d}"
            value = _number(self._needs(args), 1, 50000, 1)
            if not 1 <= value <= 50000:
                raise _Error(-222)
            setattr(self.settings, attribute, round(value))
            return None

        return handler

    def _trigger_source(self, args: str | None, query: bool) -> str | None:
        if query:
            return self.settings.trigger_source
        word = self._needs(args).upper()
        sources = {"IMM": "IMM", "IMMEDIATE": "IMM", "BUS": "BUS", "EXT": "EXT"}
        sources["EXTERNAL"] = "EXT"
        if word not in sources:
            raise _Error(-141)
        self.settings.trigger_source = sources[word]
        return None

    def _select_range(self, function: str, text: str) -> None:
        ranges = RANGES[function]
        value = abs(_number(text, ranges[0], ranges[-1], ranges[-1]))
        chosen = next((r for r in ranges if value <= r * (1 + 1e-9)), None)
        if chosen is None:
            raise _Error(-222)
        self.settings.range[function] = chosen
        self.settings.autorange[function] = False

    def _configure(self, function: str) -> Handler:
        def handler(args: str | None, query: bool) -> str | None:
            if query:
                raise _Error(-113)
            parts = [part.strip() for part in (args or "").split(",") if part.strip()]
            if len(parts) > 2:
                raise _Error(-108)
            range_text = parts[0] if parts else "AUTO"
            if range_text.upper() in ("AUTO", "DEF", "DEFAULT"):
                self.settings.autorange[function] = True
            else:
                self._select_range(function, range_text)
            if function in INTEGRATING:
                self.settings.nplc[function] = 10.0
            self.settings.function = function
            self.settings.sample_count = self.settings.trigger_count = 1
            self.settings.trigger_source = "IMM"
            return None

        return handler

    def _autorange(self, function: str) -> Handler:
        def handler(args: str | None, query: bool) -> str | None:
            if query:
                return "1" if self.settings.autorange[function] else "0"
            word = self._needs(args).upper()
            if word == "ONCE":
                self.settings.range[function] = self._active_range(function)
                self.settings.autorange[function] = False
            else:
                self.settings.autorange[function] = _boolean(word)
            return None

        return handler

    def _range(self, function: str) -> Handler:
        def handler(args: str | None, query: bool) -> str | None:
            if query:
                return _format(self._active_range(function))
            self._select_range(function, self._needs(args))
            return None

        return handler

    def _nplc(self, function: str) -> Handler:
        def handler(args: str | None, query: bool) -> str | None:
            if query:
                return _format(self.settings.nplc[function])
            choices = sorted(RESOLUTION)
            value = _number(self._needs(args), choices[0], choices[-1], 10.0)
            chosen = next((c for c in choices if value <= c * (1 + 1e-9)), None)
            if chosen is None or value <= 0:
                raise _Error(-222)
            self.settings.nplc[function] = chosen
            return None

        return handler


def _long(function: str) -> str:
    """``VOLT:DC`` → ``VOLTage[:DC]`` (the mnemonic pattern of a function's subsystem)."""
    long_names = {"VOLT": "VOLTage", "CURR": "CURRent", "RES": "RESistance", "FRES": "FRESistance"}
    base, _, kind = function.partition(":")
    if kind == "DC":
        return f"{long_names[base]}[:DC]"
    if kind:
        return f"{long_names[base]}:{kind}"
    return long_names[base]

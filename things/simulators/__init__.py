"""Wire-level instrument simulators: the real drivers run unchanged against them.

``wot-labthing simulate NAME`` serves one; a servient config can start them
itself (``[[simulators]]``). They are registered by name as entry points of the
``wot_labthing.simulators`` group in ``pyproject.toml``, like any third-party
simulator; the base classes live in the library (:class:`wot_labthing.LineSimulator`,
:class:`wot_labthing.SimulatorEndpoint`).
"""

from wot_labthing import LineSimulator, SimulatorEndpoint

__all__ = ["LineSimulator", "SimulatorEndpoint"]

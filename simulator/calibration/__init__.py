"""Calibration of the shared operating parameters against the reported journey times.

:mod:`~simulator.calibration.posterior` holds the calibrated parameters (the file
``scenarios/defaults/calibrated.yaml``) and how every draw uses them; it is light and imported
by the planning stages. The fit itself (ABC-SMC with pyabc), the cross-validation and the report
live in :mod:`~simulator.calibration.fit`, :mod:`~simulator.calibration.validation` and
:mod:`~simulator.calibration.report`, run by ``trainsim calibrate``.
"""

from simulator.calibration.posterior import (
    DEFAULTS,
    FORMAT,
    CalibratedParameter,
    Calibration,
    Mode,
    Prior,
    load_calibration,
    operating_digest,
)

__all__ = [
    "DEFAULTS", "FORMAT", "CalibratedParameter", "Calibration", "Mode", "Prior",
    "load_calibration", "operating_digest",
]

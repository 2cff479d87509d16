"""The hot path: the compiled extension when it is installed, else its Python twin.

COLLECTOR_NATIVE=0 forces the Python twin (for debugging and for parity tests).
"""

from __future__ import annotations

import logging
import os

from collector import records as _twin

logger = logging.getLogger(__name__)

build_records = _twin.build_records
IMPLEMENTATION = "python"

if os.environ.get("COLLECTOR_NATIVE", "1") != "0":
    try:
        import collector._hotpath as _hotpath
    except ImportError:  # pragma: no cover - depends on how the package was installed
        logger.warning("native hot path not built; using the pure-Python twin")
    else:
        build_records = _hotpath.build_records
        IMPLEMENTATION = "native"

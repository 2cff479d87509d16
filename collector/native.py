"""The hot path: the compiled pipeline when the extension is installed, else its Python twin.

COLLECTOR_NATIVE=0 forces the Python twin (for debugging and for parity tests).
"""

from __future__ import annotations

import logging
import os

from collector import pipeline as _twin

logger = logging.getLogger(__name__)

Pipeline: type[_twin.Pipeline] = _twin.Pipeline
IMPLEMENTATION = "python"

if os.environ.get("COLLECTOR_NATIVE", "1") != "0":
    try:
        import collector._hotpath as _hotpath
    except ImportError:  # pragma: no cover - depends on how the package was installed
        logger.warning("native hot path not built; using the pure-Python twin")
    else:
        Pipeline = _hotpath.Pipeline
        IMPLEMENTATION = "native"

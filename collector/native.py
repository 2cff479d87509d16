"""The hot path: the compiled extension when it is installed, else its Python twins.

COLLECTOR_NATIVE=0 forces the Python twins (for debugging and for parity tests).
"""

from __future__ import annotations

import logging
import os

from collector import nesting as _twins

logger = logging.getLogger(__name__)

tree_violation = _twins.tree_violation
IMPLEMENTATION = "python"

if os.environ.get("COLLECTOR_NATIVE", "1") != "0":
    try:
        import collector._hotpath as _hotpath
    except ImportError:  # pragma: no cover - depends on how the package was installed
        logger.warning("native hot path not built; using the pure-Python twin")
    else:
        tree_violation = _hotpath.tree_violation
        IMPLEMENTATION = "native"

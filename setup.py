"""Builds the Cython hot path in native/ into the collector._hotpath extension.

Everything else about the package lives in pyproject.toml; setuptools has no declarative way
to pass Cython compiler directives, so this file only describes the extension.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

# COLLECTOR_SANITIZE=1 builds with AddressSanitizer and UBSan for the parity tests
# (scripts/test-sanitize); UBSan findings abort instead of only printing.
sanitize = os.environ.get("COLLECTOR_SANITIZE") == "1"
flags = (
    ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-O1"]
    if sanitize
    else ["-O3"]
)

extensions = [
    Extension(
        "collector._hotpath",
        ["native/hotpath.pyx"],
        extra_compile_args=flags,
        extra_link_args=flags if sanitize else [],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
        },
    )
)

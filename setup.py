"""Builds the Cython modules in native/: the hot path and the librdkafka producer.

Everything else about the package lives in pyproject.toml; setuptools has no declarative way
to pass Cython compiler directives, so this file only describes the extensions.

collector._producer links against the system's librdkafka (Debian's librdkafka-dev, which
`make setup` installs). Without its headers the module is skipped with a warning and the
collector uses confluent-kafka's producer instead.
"""

import os
import sys
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

# COLLECTOR_SANITIZE=portable or =simd builds with AddressSanitizer and UBSan for the parity
# tests (scripts/test-sanitize runs both); UBSan findings abort instead of only printing.
# `portable` takes the portable branches of the byte scanners and the UUID writer
# (COLLECTOR_PORTABLE_SCAN), which no x86-64 build runs otherwise; `simd` the SSE2 and AVX2
# ones, as the normal build (whose tests run the AVX2 and SSE2 outlines alike,
# collector._hotpath.outline_scans).
sanitize = os.environ.get("COLLECTOR_SANITIZE", "")
if sanitize not in ("", "portable", "simd"):
    sys.exit(f"setup.py: COLLECTOR_SANITIZE is portable or simd, not {sanitize!r}")
flags = (
    [
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
        "-fno-omit-frame-pointer",
        "-O1",
        *(["-DCOLLECTOR_PORTABLE_SCAN"] if sanitize == "portable" else []),
    ]
    if sanitize
    else ["-O3"]
)
link_flags = flags if sanitize else []

# COLLECTOR_PGO=generate:DIR or use:DIR: the two halves of the hot path's profile-guided build
# (scripts/build-native, which runs scripts/train_native.py in between). Functions the
# training never ran are compiled as without a profile (-fprofile-partial-training).
pgo_flags: list[str] = []
pgo = os.environ.get("COLLECTOR_PGO", "")
if pgo and sanitize:
    sys.exit("setup.py: COLLECTOR_PGO and COLLECTOR_SANITIZE are two different builds")
if pgo:
    stage, _, profile_dir = pgo.partition(":")
    if stage == "generate":
        pgo_flags = ["-fprofile-generate", f"-fprofile-dir={profile_dir}"]
    elif stage == "use":
        pgo_flags = [
            "-fprofile-use",
            "-fprofile-partial-training",
            f"-fprofile-dir={profile_dir}",
        ]
    else:
        sys.exit(f"setup.py: COLLECTOR_PGO must be generate:DIR or use:DIR, not {pgo!r}")

extensions = [
    Extension(
        "collector._hotpath",
        ["native/hotpath.pyx"],
        include_dirs=["native"],
        depends=["native/records.h", "native/records.pxd"],
        extra_compile_args=flags + pgo_flags,
        extra_link_args=link_flags + pgo_flags,
    )
]
if Path("/usr/include/librdkafka/rdkafka.h").exists():
    extensions.append(
        Extension(
            "collector._producer",
            ["native/producer.pyx"],
            include_dirs=["native"],
            depends=["native/records.h", "native/records.pxd"],
            libraries=["rdkafka"],
            extra_compile_args=flags,
            extra_link_args=link_flags,
        )
    )
else:
    print(
        "setup.py: librdkafka's headers are missing (apt-get install librdkafka-dev); "
        "building without the native producer",
        file=sys.stderr,
    )

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["native"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
        },
    )
)

"""Compile the layer files a cold start loads (cold-start-files.txt) for the interpreter running this script.

    python3.13 infra/layer/compile_bytecode.py LAYER_PYTHON_DIR infra/layer/cold-start-files.txt

Run by infra/layer/Makefile with a Python 3.13, the runtime's version (bytecode is per minor version). Standard
library only, since that interpreter has nothing else. The ``.pyc`` files are unchecked-hash ones (PEP 552):
Lambda unpacks the layer with new file times, which would make timestamp-checked bytecode look stale, and a
layer never changes once published.
"""

from __future__ import annotations

import py_compile
import sys
from pathlib import Path


def compile_listed(site: Path, listing: Path) -> int:
    """Compile every file ``listing`` names under ``site``; the number compiled. Raises FileNotFoundError for
    a listed file the layer lacks (the list is stale: `make lock`)."""
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip() and not line.startswith("#")]
    missing = [name for name in names if not (site / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} listed files are not in the layer, first {missing[0]}: run make lock")
    for name in names:
        py_compile.compile(
            str(site / name), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
    return len(names)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        count = compile_listed(Path(argv[0]), Path(argv[1]))
    except (FileNotFoundError, py_compile.PyCompileError) as exc:
        print(f"compile_bytecode: {exc}", file=sys.stderr)
        return 1
    print(f"compiled {count} files for Python {sys.version_info.major}.{sys.version_info.minor}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

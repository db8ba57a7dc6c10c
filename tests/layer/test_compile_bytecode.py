"""infra/layer/compile_bytecode.py: the listed layer files compiled so that a read-only /opt still uses them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "layer" / "compile_bytecode.py"
UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based, source not checked


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    site = tmp_path / "python"
    (site / "greeting").mkdir(parents=True)
    (site / "greeting" / "__init__.py").write_text("WORD = 'compiled'\n")
    (site / "unlisted.py").write_text("VALUE = 1\n")
    return site


def compile_listed(site: Path, *names: str) -> subprocess.CompletedProcess[str]:
    listing = site.parent / "files.txt"
    listing.write_text("# a comment line\n" + "\n".join(names) + "\n")
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(site), str(listing)], capture_output=True, text=True, check=False
    )


def bytecode_of(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


def test_listed_files_get_unchecked_hash_bytecode_for_the_running_python(layer):
    done = compile_listed(layer, "greeting/__init__.py")
    header = bytecode_of(layer / "greeting" / "__init__.py").read_bytes()[:8]
    assert done.returncode == 0, done.stderr
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH_FLAGS
    assert "compiled 1 files" in done.stdout


def test_unlisted_files_get_no_bytecode(layer):
    compile_listed(layer, "greeting/__init__.py")
    assert not bytecode_of(layer / "unlisted.py").exists()


def test_the_bytecode_is_used_whatever_the_source_files_times(layer):
    compile_listed(layer, "greeting/__init__.py")
    # As when Lambda unpacks the layer: new times on every file, and nothing may be written.
    source = layer / "greeting" / "__init__.py"
    source.write_text("WORD = 'source'\n")
    os.utime(source, (1_000_000_000, 1_000_000_000))
    environment = {**os.environ, "PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"}
    environment.pop("PYTHONPYCACHEPREFIX", None)
    done = subprocess.run(
        [sys.executable, "-c", "import greeting; print(greeting.WORD)"],
        env=environment, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "compiled"


def test_a_listed_file_the_layer_lacks_fails_the_build_and_says_to_relock(layer):
    done = compile_listed(layer, "greeting/__init__.py", "gone/module.py")
    assert done.returncode == 1
    assert "gone/module.py" in done.stderr and "make lock" in done.stderr

"""Where things are, with nothing imported: the bench puts the functions on its path before importing the rest."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "tests" / "events"
# Lambda's task root (the functions' code), then the repository for infra.*; the order PYTHONPATH gets too.
PATH = [str(REPO / "functions"), str(REPO)]
PYTHONPATH = os.pathsep.join(PATH)

"""Deploying and calling the stack: the publish step for the static site, and a SigV4 client for the function URLs.

The publish step builds the page's config document with the functions' own code (llm_core), which Lambda
finds at the root of the code directory; from this repository that is functions/.
"""

import sys
from pathlib import Path

FUNCTIONS_DIR = str(Path(__file__).resolve().parents[2] / "functions")
if FUNCTIONS_DIR not in sys.path:
    sys.path.append(FUNCTIONS_DIR)

"""`make bench`: what a person feels, as numbers against baselines measured in the same run on this machine.

    python -m infra.bench [--quick] [--check] [--pip-python python3]

Each row pairs what it measures with a baseline run next to it, and keeps the median of the pairs (report.py):

1. cold_import: each handler's import in a fresh interpreter / ``import openai, boto3``; <= 1.10x.
2. first_delta: a fresh stream process, the model's first token -> the client's first delta, on its first
   request (<= 50 ms) and later ones (<= 20 ms); and every token arriving as its own delta.
3. cold_start: a fresh process's first summarize answer / a plain boto3 + openai script's; <= 1.15x.
4-6. warm_requests: per buffered function, the budget check's added time (< 15 ms), the handler against the
   SDK call alone (<= 1.10x), the process's peak memory (<= 150 MB); stream_memory: the stream's (<= 150 MB).
7. layer: the dependencies layer, unzipped; <= 40 MB.

Everything runs on 127.0.0.1 (world.py: the fake model, moto, the emulator's environments) except the layer
build, which downloads wheels from PyPI. The package's modules import nothing at this level, as each warm
function process imports warm_runner.py from here.
"""

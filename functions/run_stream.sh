#!/bin/bash
# Started by the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) in place of a handler.
# The dependencies layer is on /opt/python; the adapter proxies each invocation to this port.
export PYTHONPATH="$LAMBDA_TASK_ROOT:/opt/python:$LAMBDA_RUNTIME_DIR${PYTHONPATH:+:$PYTHONPATH}"
exec python -m uvicorn handlers.stream:app --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log --timeout-keep-alive 60

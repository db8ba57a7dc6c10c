"""The dependencies layer: its requirements (generated from uv.lock) and the files it ships compiled."""

"""Waiting in the main thread for Ctrl-C (SIGINT) or SIGTERM, for the tools that run servers in threads.

The kernel hands a process's signal to any of its threads that does not block it. Python runs the handler
only in the main thread, and only once that thread runs again: a main thread blocked on a lock
(``threading.Event().wait()``) sleeps on through a signal that landed on a server's thread, so Ctrl-C did
nothing, now and then, under load. Python also writes each signal's number to a wakeup file descriptor from
whichever thread took it, so the wait here blocks on that instead. (A handler of its own also undoes the
ignored SIGINT that a process started in a script's background inherits.)

    with StopSignals() as stop:       # from now on, SIGINT and SIGTERM only note that they came
        ...start the servers...
        stop.wait()                   # returns once one has come, at once if one came meanwhile
"""

from __future__ import annotations

import signal
import socket
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    def __init__(self, signums: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.signums = signums
        self.received: signal.Signals | None = None
        self._reader, self._writer = socket.socketpair()
        self._previous_handlers: dict[signal.Signals, Any] = {}
        self._previous_wakeup_fd = -1

    def __enter__(self) -> StopSignals:
        # Python's C handler writes without waiting; a full buffer only means a wait is already due to wake.
        self._writer.setblocking(False)
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in self.signums:
            self._previous_handlers[signum] = signal.signal(signum, self._note)
        return self

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum)

    def wait(self) -> signal.Signals:
        """Block until one of the signals has come; which one."""
        while self.received is None:
            # Returns once a signal has written its number; Python then runs _note before the next line.
            self._reader.recv(64)
        return self.received

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._reader.close()
        self._writer.close()

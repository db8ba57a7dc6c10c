"""infra/stop_signals.py: Ctrl-C ends the wait in the main thread, whichever thread the kernel gave it to."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from infra.stop_signals import StopSignals

REPO = Path(__file__).resolve().parents[2]

# The main thread blocks in the wait; another thread, once it sees the main thread asleep in the kernel (its
# state in /proc) on the wait's socket, not on a lock's futex (as when it waits for the GIL), sends SIGTERM to
# itself, so the kernel runs the signal's handler there and not in main. A kernel that hides wait channels
# shows "0": the state alone then.
SIGNAL_ON_ANOTHER_THREAD = textwrap.dedent(
    """
    import signal, threading
    from infra.stop_signals import StopSignals

    def main_is_asleep(thread_id):
        with open(f"/proc/self/task/{thread_id}/stat") as stat, open(f"/proc/self/task/{thread_id}/wchan") as wchan:
            asleep = stat.read().rsplit(")", 1)[1].split()[0] == "S"
            return asleep and not wchan.read().startswith("futex")

    def signal_this_thread(main_thread_id):
        while not main_is_asleep(main_thread_id):
            pass
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    with StopSignals() as stop:
        threading.Thread(target=signal_this_thread, args=(threading.get_native_id(),)).start()
        print(stop.wait().name)
    """
)


def test_a_signal_that_lands_on_another_thread_ends_the_wait() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", SIGNAL_ON_ANOTHER_THREAD],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=10,  # the wait ends at once; a main thread the signal did not wake would sleep on
        check=False,
    )
    assert (finished.stdout, finished.stderr) == ("SIGTERM\n", "")


def test_leaving_puts_back_the_handlers_from_before() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before

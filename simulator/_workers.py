"""What every worker process of trainsim's process pools sets up first.

A forked worker inherits the parent's signal handlers, and the command line turns SIGTERM into
an exit of the whole run (``cli._on_signal``). A pool is ended by SIGTERM to its workers
(``Pool.terminate``); a worker that kept the parent's handler could miss it and hang the run.
Every pool (the Monte Carlo batches, the nowcast's particles, the calibration's fits) therefore
starts its workers with :func:`init_worker` and ends them with :func:`ending`: closed and joined
once the work is done (terminating them always, as ``with Pool()`` does, was a race with that
handler: a calibration once hung after its last fit).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.pool import Pool

__all__ = ["ending", "init_worker"]


@contextlib.contextmanager
def ending(pool: Pool) -> Iterator[Pool]:
    """The pool's workers end with the block: closed and joined after it (each ends as it
    finishes its last task), terminated if it raises (an error, Ctrl-C, or SIGTERM turned into
    an exception: no worker survives the run)."""
    try:
        yield pool
        pool.close()
        pool.join()
    except BaseException:
        pool.terminate()
        pool.join()
        raise


def init_worker(parent: int) -> None:
    """Signals as a worker needs them, and a watch on the parent process ``parent``."""
    # Ctrl-C reaches the whole process group: let the parent alone decide to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a worker must simply die when the pool terminates it, whichever of its threads the
    # signal reaches
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # a result sent to a parent that was killed (SIGKILL: no chance to end its pool) meets a
    # closed pipe: die of SIGPIPE as a Unix filter does, instead of printing multiprocessing's
    # BrokenPipeError traceback into the user's terminal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    """Exit when the parent process is gone (killed without terminating its pool)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    while os.getppid() == parent:
        time.sleep(0.2)  # a killed run's workers stop computing within a fifth of a second
    os._exit(1)

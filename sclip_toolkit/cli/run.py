"""The errors a user can cause, and how the command-line scripts report them (a message, exit code 2)."""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Tuple, Type

from ..exceptions import ToolkitError

# Only the toolkit's own error types (and a file that is not where the user said) are one-line user errors: any
# other exception is a bug and keeps its traceback.
USER_ERRORS: Tuple[Type[BaseException], ...] = (ToolkitError, FileNotFoundError)


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if 'Original Traceback' in text:  # re-raised from a DataLoader worker: keep the worker's last line
        lines = [line for line in text.strip().splitlines() if line.strip()]
        text = lines[-1].split(': ', 1)[-1] if lines else text
    return text


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a batch scheduler's time limit), turned into an interruption so that it unwinds as Ctrl-C
    does: partial files are removed and the resumable evaluation says how to resume."""
    exit_code = 143  # 128 + SIGTERM, what the shell reports for a process killed by it


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM raises :class:`Terminated`; the previous handler comes back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated('terminated (SIGTERM)')

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_cli(main: Callable[[], object], prog: str, words: Optional[Callable[[str], str]] = None) -> int:
    """Run a script's main(); a user error prints one clear line and returns 2, Ctrl-C one line and 130, SIGTERM
    the same line and 143 (``SCLIP_DEBUG=1``: full traceback). An int that main() returns is the exit status.

    Args:
        words: rewrites a message in the script's own words (the demo: API parameters -> its options).
    """
    try:
        with sigterm_as_interrupt():
            result = main()
    except USER_ERRORS as exc:
        if os.environ.get('SCLIP_DEBUG'):
            raise
        message = _message(exc)
        print(f'{prog}: error: {words(message) if words else message}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # the resumable evaluation says how many predictions are saved
        if os.environ.get('SCLIP_DEBUG'):
            raise
        print(f'{prog}: {str(exc) or "interrupted"}', file=sys.stderr)
        return getattr(exc, 'exit_code', 130)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0

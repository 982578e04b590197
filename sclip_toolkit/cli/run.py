"""The errors a user can cause, and how the command-line scripts report them (a message, exit code 2)."""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Tuple, Type

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


def run_cli(main: Callable[[], object], prog: str, words: Optional[Callable[[str], str]] = None) -> int:
    """Run a script's main(); a user error prints one clear line and returns 2, Ctrl-C one line and 130
    (``SCLIP_DEBUG=1``: full traceback).

    Args:
        words: rewrites a message in the script's own words (the demo: API parameters -> its options).
    """
    try:
        main()
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
        return 130
    return 0

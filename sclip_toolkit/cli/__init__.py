"""The command-line layer shared by the entry points (demo.py, eval.py, the app, tools/)."""
from .run import USER_ERRORS, run_cli

__all__ = ['USER_ERRORS', 'run_cli']

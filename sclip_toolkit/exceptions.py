"""The toolkit's own error types: what a user can cause (a config, a file, a class list, an image, weights).

The command-line scripts print these as one line with exit code 2 (``sclip_toolkit.cli.run_cli``); any other
exception is a bug somewhere and keeps its traceback.
"""
from __future__ import annotations


class ToolkitError(Exception):
    """Base of every error a user can cause and fix; the message says what was wrong and what would be right."""


class ConfigError(ToolkitError, ValueError):
    """A config value, an override or a name (method, variant, template set, config) is not valid."""


class DataError(ToolkitError, ValueError):
    """A dataset on disk does not have the expected layout or content."""


class SegmenterError(ToolkitError, ValueError):
    """Bad arguments to the API's ``Segmenter`` (method, backbone, device, image, classes); says what would be
    right."""

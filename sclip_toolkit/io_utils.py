"""Writing files so that they appear complete or not at all, and saying in one line why a write failed.

Every file the toolkit writes (demo outputs, label maps, metrics, tables, caches, saved predictions, the web app's
downloads) goes through :func:`atomic_open`: the data is written to a temporary file in the target's own folder and
renamed over the target (``os.replace``, atomic on one file system). A failed write (full disk, read-only file
system, no permission) or an interruption removes the temporary file and leaves any previous version of the target
untouched; the error names the file and the reason.
"""
from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator, Optional, Union

from .exceptions import ToolkitError

PathLike = Union[str, os.PathLike]

_UMASK = os.umask(0)  # read once (setting it is the only way to read it): temporary files get the usual mode
os.umask(_UMASK)

REASONS = {
    errno.ENOSPC: 'no space left on the device',
    errno.EDQUOT: 'disk quota exceeded',
    errno.EROFS: 'read-only file system',
    errno.EACCES: 'permission denied',
    errno.EPERM: 'operation not permitted',
    errno.ENOENT: 'its folder does not exist',
    errno.ENOTDIR: 'a part of the path is a file, not a folder',
    errno.EISDIR: 'it is a folder',
    errno.ENAMETOOLONG: 'the file name is too long',
    errno.EFBIG: 'the file is too large for the file system',
}


class WriteError(ToolkitError, OSError):
    """A file could not be written; the message names the file and the reason (no space, read-only, permission)."""


def reason(exc: BaseException) -> str:
    """'no space left on the device', 'read-only file system', ... for an OSError (its own text otherwise)."""
    code = getattr(exc, 'errno', None)
    return REASONS.get(code) or getattr(exc, 'strerror', None) or str(exc) or type(exc).__name__


def write_error(path: PathLike, exc: OSError, what: str = 'could not write') -> WriteError:
    """The one-line error for a failed write of ``path``, keeping the errno."""
    error = WriteError(f'{what} {path}: {reason(exc)}')
    error.errno = getattr(exc, 'errno', None)
    return error


@contextmanager
def atomic_open(path: PathLike, mode: str = 'wb', encoding: Optional[str] = None,
                newline: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on a clean exit it replaces ``path``.

    Args:
        path: the file to write (its folder must exist).
        mode: 'wb' or 'w' (text; ``encoding`` defaults to UTF-8).

    Raises:
        WriteError: the temporary file could not be created, written or renamed; nothing is left behind.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f'.{target.name[:100]}.', suffix='.tmp', dir=target.parent)
    except OSError as exc:
        raise write_error(target, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would make outputs private to their owner
        if mode == 'w':
            handle = os.fdopen(fd, 'w', encoding=encoding or 'utf-8', newline=newline)
        else:
            handle = os.fdopen(fd, 'wb')
    except BaseException:
        os.close(fd)
        _remove(tmp)
        raise
    try:
        with handle:
            yield handle
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        if isinstance(exc, WriteError):
            raise
        raise write_error(target, exc) from None
    except BaseException:  # Ctrl-C, SIGTERM or a bug in the writer: no partial file either
        _remove(tmp)
        raise


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def atomic_write(path: PathLike, data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` atomically (see :func:`atomic_open`)."""
    if isinstance(data, str):
        data = data.encode(encoding)
    with atomic_open(path, 'wb') as fh:
        fh.write(data)


def atomic_save(path: PathLike, save: Callable[[IO], object]) -> None:
    """Call ``save(file handle)`` (e.g. ``lambda fh: picture.save(fh, format='PNG')``) into a temporary file and
    rename it to ``path``."""
    with atomic_open(path, 'wb') as fh:
        save(fh)


def save_image(path: PathLike, picture, **params) -> None:
    """Save a PIL image atomically, in the format its suffix names ('.png', '.jpg', ...)."""
    from PIL import Image

    fmt = Image.registered_extensions().get(Path(path).suffix.lower(), 'PNG')
    atomic_save(path, lambda fh: picture.save(fh, format=fmt, **params))


def check_writable_dir(folder: PathLike, what: str) -> Path:
    """Create ``folder`` when missing and check that a file can be written in it, before any slow work.

    Args:
        what: how the message names the folder, e.g. '--out demo_out'.

    Raises:
        WriteError: 'cannot write to <what>: read-only file system' (or another reason).
    """
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.write-check.', dir=path)
        os.close(fd)
        os.unlink(tmp)
    except FileExistsError:
        raise WriteError(f'{what}: {path} is a file; give a folder') from None
    except OSError as exc:
        error = WriteError(f'cannot write to {what}: {reason(exc)}')
        error.errno = exc.errno
        raise error from None
    return path

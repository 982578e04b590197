"""What the server does around the page: its temporary folder (removed on exit and on SIGTERM, those of dead
servers removed at start) and the Host / Origin check that keeps a local app local."""
from __future__ import annotations

import atexit
import ipaddress
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import urlsplit

WORK_PREFIX = 'sclip_app_'
_OWNER = re.compile(rf'^{WORK_PREFIX}(\d+)_')
LOCAL_NAMES = ('localhost', '127.0.0.1', '::1', '[::1]')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_work_dirs(parent: Optional[Path] = None) -> int:
    """Remove the folders ``sclip_app_<pid>_*`` of servers that are no longer running; returns how many."""
    parent = Path(parent or tempfile.gettempdir())
    removed = 0
    for path in parent.glob(f'{WORK_PREFIX}*'):
        match = _OWNER.match(path.name)
        if match and path.is_dir() and not _alive(int(match[1])):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def make_work_dir(parent: Optional[Path] = None, cleanup: bool = True) -> Path:
    """A new folder ``sclip_app_<pid>_*`` for this server's uploads and run files.

    With ``cleanup``, it is removed when the process exits, also on SIGTERM (the handler exits the normal way, so
    ``atexit`` runs), and the folders of servers that died without cleaning up are removed now.
    """
    if cleanup:
        remove_stale_work_dirs(parent)
    path = Path(tempfile.mkdtemp(prefix=f'{WORK_PREFIX}{os.getpid()}_', dir=parent))
    if cleanup:
        atexit.register(shutil.rmtree, path, True)
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    return path


def is_local_bind(host: str) -> bool:
    """Whether serving on ``host`` reaches only this machine (a loopback address or 'localhost')."""
    if host in ('localhost', ''):
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    """'127.0.0.1:7860' -> '127.0.0.1', '[::1]:80' -> '::1', 'LocalHost' -> 'localhost'."""
    value = value.strip().lower()
    if value.startswith('['):
        return value[1:value.find(']')] if ']' in value else value
    return value.rsplit(':', 1)[0] if value.count(':') == 1 else value


def is_local_name(name: str) -> bool:
    name = _host_name(name)
    if name == 'localhost' or name.endswith('.localhost'):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LocalOnlyMiddleware:
    """ASGI middleware for a server bound to this machine: refuses (403) requests whose ``Host`` header is not a
    local name (DNS rebinding: a foreign site's name resolving to 127.0.0.1) and requests whose ``Origin`` is set and
    not local (another site's page posting uploads or runs through the visitor's browser).

    Gradio's own ``strict_cors`` only withholds the CORS headers; a form upload from another site needs none, so
    it is refused here.
    """

    def __init__(self, app, extra_hosts: Iterable[str] = ()):
        self.app = app
        self.extra_hosts = {h.lower() for h in extra_hosts}

    def _local(self, name: str) -> bool:
        return is_local_name(name) or _host_name(name) in self.extra_hosts

    async def __call__(self, scope, receive, send):
        if scope['type'] not in ('http', 'websocket'):
            await self.app(scope, receive, send)
            return
        headers = {k.decode('latin-1').lower(): v.decode('latin-1') for k, v in scope.get('headers', [])}
        host, origin = headers.get('host', ''), headers.get('origin')
        reason = None
        if not self._local(host):
            reason = f'host {host!r} is not this machine'
        elif origin is not None and (origin == 'null' or not self._local(urlsplit(origin).netloc or origin)):
            reason = f'requests from {origin!r} are not accepted'
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope['type'] == 'websocket':
            await send({'type': 'websocket.close', 'code': 1008})
            return
        body = f'Forbidden: {reason} (this app serves only its own pages on this machine)\n'.encode()
        await send({'type': 'http.response.start', 'status': 403,
                    'headers': [(b'content-type', b'text/plain; charset=utf-8'),
                                (b'content-length', str(len(body)).encode())]})
        await send({'type': 'http.response.body', 'body': body})

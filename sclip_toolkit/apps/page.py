"""The page's HTML pieces, free of Gradio: status lines, the weights line, each method's readiness, the settings
defaults, the clicked pixel's table, and the admission of runs to the queue."""
from __future__ import annotations

import html
import os
import threading
import time
from typing import Dict, Optional, Sequence

from .service import AppOptions, hide_paths
from .settings import SETTINGS, method_defaults

PIXEL_COLUMNS = ['method', 'x (column)', 'y (row)', 'class', 'score']
BUSY = 'The server is busy: try again in a moment.'

CSS = """
.sclip-status { padding: 0.5em 0.75em; border-radius: 6px; }
.sclip-status.ok { background: #eef7ee; }
.sclip-status.error { background: #fdecea; color: #8a1c12; font-weight: 600; }
.sclip-notice { padding: 0.5em 0.75em; border-radius: 6px; background: #fff4ce; font-weight: 600; }
.sclip-weights { font-size: 0.9em; color: #555; }
.sclip-legend, .sclip-pixel { border-collapse: collapse; }
.sclip-legend td, .sclip-legend th, .sclip-pixel td, .sclip-pixel th { padding: 2px 10px; text-align: left; }
#defaults table { font-size: 0.85em; }
#defaults td, #defaults th { padding: 1px 5px; }
.sclip-legend td.share { text-align: right; font-variant-numeric: tabular-nums; }
.sclip-legend .swatch { display: inline-block; width: 1.2em; height: 1.2em; border: 1px solid #333;
                        vertical-align: middle; }
.sclip-unready { font-size: 0.85em; color: #666; margin: 1px 0; line-height: 1.3; }
.sclip-unready input { vertical-align: middle; }
.sclip-unready .reason { font-style: italic; }
#settings-check:empty { display: none; }
#advanced input::placeholder { font-size: 0.85em; }
"""


def status_html(kind: str, text: str) -> str:
    """A status line: 'ok' (green) or 'error' (red, prefixed 'Error: ')."""
    return f'<div class="sclip-status {kind}">{"Error: " if kind == "error" else ""}{html.escape(text)}</div>'


def weights_note(options: AppOptions) -> str:
    """One line on the CLIP weights the models will load, or where to put them when they are missing (file names
    only unless ``options.show_paths``)."""
    from ..apis import split_backbone
    from ..models.checkpoint import default_cache_dir, normalize_openai_name, openai_clip_urls

    backbone, checkpoint = split_backbone(options.backbone, options.checkpoint)
    if checkpoint:
        return hide_paths(f'CLIP weights: {checkpoint}', options.show_paths)
    backbone = backbone or 'ViT-B/16'
    if options.pretrained and options.pretrained != 'openai':
        return f'CLIP weights: open_clip {backbone} ({options.pretrained}), loaded on the first run'
    official = normalize_openai_name(backbone)
    if official is None:
        return f'CLIP weights: {backbone} is not a CLIP release this server knows'
    target = default_cache_dir() / os.path.basename(openai_clip_urls()[official])
    if target.is_file():
        return hide_paths(f'CLIP weights: {target}', options.show_paths)
    where = str(target.parent) if options.show_paths else "the server's weights folder"
    later = ', or they are downloaded on the first run' if options.download else ''
    return f'No CLIP weights yet: {target.name} ({official}) belongs in {where}{later}.'


def readiness_html(readiness: Dict[str, Optional[str]]) -> str:
    """The methods that cannot run here as disabled checkboxes, grouped by their reason (one line each)."""
    groups: Dict[str, list] = {}
    for method, reason in readiness.items():
        if reason:
            groups.setdefault(reason, []).append(method)
    rows = []
    for reason, methods in groups.items():
        boxes = ' '.join(f'<label data-method="{html.escape(m)}"><input type="checkbox" disabled> {html.escape(m)}'
                         f'</label>' for m in methods)
        rows.append(f'<div class="sclip-unready">{boxes} <span class="reason">cannot run: {html.escape(reason)}'
                    f'</span></div>')
    return ''.join(rows)


def defaults_table(methods: Sequence[str], backbone: Optional[str]) -> str:
    """HTML table of every method's own value of each advanced setting ('-': does not apply)."""
    short = dict(logit_scale='logit scale', prob_thd='threshold', pamr_steps='PAMR', crop_size='crop',
                 stride='stride')
    head = '<th>method</th>' + ''.join(f'<th>{short[k]}</th>' for k in SETTINGS)
    rows = []
    for method in methods:
        values = method_defaults(method, backbone)
        cells = ''.join(f'<td>{"-" if values[k] is None else format(values[k], "g")}</td>' for k in SETTINGS)
        rows.append(f'<tr><td>{html.escape(method)}</td>{cells}</tr>')
    return (f"<div class='sclip-weights'>Each method's own values:</div><table class='sclip-pixel'><thead><tr>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def pixel_table(rows, note: Optional[str] = None) -> str:
    """The clicked pixel's table: one row per method (method, column, row, class, score)."""
    if note:
        return f'<div class="sclip-weights">{html.escape(note)}</div>'
    if not rows:
        return '<div class="sclip-weights">Click the result picture to see the class and score at a pixel.</div>'
    head = ''.join(f'<th>{c}</th>' for c in PIXEL_COLUMNS)
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(str(v))}</td>' for v in row) + '</tr>' for row in rows)
    return f'<table class="sclip-pixel"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Admission:
    """How many runs may be running or waiting at once (``limit``): a run over the limit is refused at once with
    :data:`BUSY`, before it enters Gradio's queue, so the page keeps its result instead of showing the queue's
    error on every output. Tickets of sessions that never ran are forgotten after ``expire_s``."""

    def __init__(self, limit: int, expire_s: float = 1800):
        self.limit, self.expire_s = limit, expire_s
        self._tickets: Dict[str, float] = {}
        self._lock = threading.Lock()

    def enter(self, session: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._tickets = {k: t for k, t in self._tickets.items() if now - t < self.expire_s}
            if session not in self._tickets and len(self._tickets) >= self.limit:
                return False
            self._tickets[session] = now
            return True

    def leave(self, session: Optional[str]) -> None:
        with self._lock:
            self._tickets.pop(session, None)

    def __len__(self) -> int:
        return len(self._tickets)

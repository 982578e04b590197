"""A headless Chromium for the web app's browser tests and screenshots (Playwright driving the system's build).

Playwright's own browser download needs the internet, so the system package is used: Debian's ``chromium``
(``apt-get install chromium``, which ``tools/setup_env.sh`` does), or the file named by ``$SCLIP_CHROMIUM``.
"""
from __future__ import annotations

import os
import shutil
from typing import Optional

# Offline and as root in a container: no sandbox, no GPU, nothing that phones home.
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']


def find_chromium() -> Optional[str]:
    """Path of a Chromium executable: ``$SCLIP_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on PATH."""
    explicit = os.environ.get('SCLIP_CHROMIUM')
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ('chromium', 'chromium-browser'):
        path = shutil.which(name)
        if path:
            return path
    return None


def unavailable_reason() -> Optional[str]:
    """Why no browser test can run here (None when Playwright, Gradio and a Chromium are all present)."""
    for module, package in (('playwright.sync_api', 'playwright'), ('gradio', 'gradio')):
        try:
            __import__(module)
        except ImportError:
            return f'{package} is not installed (pip install -r requirements.txt)'
    if find_chromium() is None:
        return 'no Chromium found (apt-get install chromium, or set SCLIP_CHROMIUM=/path/to/chromium)'
    return None


def launch_chromium(playwright):
    """A headless Chromium browser from ``playwright`` (``sync_playwright()``'s object)."""
    path = find_chromium()
    if path is None:
        raise RuntimeError(unavailable_reason())
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)

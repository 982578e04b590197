"""The web app's page after a comparison, as a PNG for the docs, made with a random-weight CLIP (no download).

    python tools/app_screenshot.py                       # docs/app_compare.png
    python tools/app_screenshot.py --methods sclip,naclip --out /tmp/page.png

Starts the app on a free local port with a tiny random CLIP and a notice saying so, opens it in headless
Chromium (the system's, see sclip_toolkit/apps/browser.py), picks the example photo, runs the methods and saves
the whole page.
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
NOTICE = ('Random weights: this page runs a tiny randomly initialised CLIP, so the segmentation below is '
          'meaningless; it shows the page, not the methods.')


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(ROOT / 'docs' / 'app_compare.png'), help='PNG to write')
    ap.add_argument('--methods', default='sclip,naclip,clearclip', help='methods to compare, comma-separated')
    ap.add_argument('--width', type=int, default=1400, help='browser window width in pixels')
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from sclip_toolkit.apps.browser import launch_chromium, unavailable_reason
    from sclip_toolkit.apps.service import AppOptions, SegmentationService
    from sclip_toolkit.apps.web import build_app, launch
    from sclip_toolkit.testing import write_random_clip

    reason = unavailable_reason()
    if reason:
        print(f'app_screenshot.py: error: {reason}', file=sys.stderr)
        return 2
    methods = [m.strip() for m in args.methods.split(',') if m.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = write_random_clip(Path(tmp) / 'random_tiny_clip.pt')
        service = SegmentationService(AppOptions(checkpoint=str(checkpoint), device='cpu', notice=NOTICE),
                                      work_dir=Path(tmp) / 'runs')
        demo = build_app(service)
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        _, url, _ = launch(demo, port=port, block=False, quiet=True)
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport=dict(width=args.width, height=1000))
                page.set_default_timeout(120_000)
                page.goto(url)
                page.locator('#example').click()
                page.locator('#image-info').get_by_text('coffee.jpg').wait_for()
                for label in page.locator('#methods label').all_inner_texts():  # untick the default if not asked
                    page.locator('#methods').get_by_label(label.strip(), exact=True).set_checked(
                        label.strip() in methods)
                page.locator('#run').click()
                page.locator('#status .sclip-status.ok').wait_for()
                page.wait_for_timeout(500)  # the result image finishes decoding
                out = Path(args.out)
                out.parent.mkdir(parents=True, exist_ok=True)
                partial = out.with_name(out.name + '.partial.png')
                page.screenshot(path=str(partial), full_page=True)
                partial.replace(out)
                browser.close()
        finally:
            demo.close()
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

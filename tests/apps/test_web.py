"""The web app in a real browser: headless Chromium driven by Playwright, the app on a free local port with the
tiny random CLIP. Skipped where no browser can be had (failed instead under CI, which has one)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit.apis import EXAMPLE_IMAGE
from sclip_toolkit.apps.browser import launch_chromium, unavailable_reason
from sclip_toolkit.apps.service import AppOptions, SegmentationService
from sclip_toolkit.testing import free_port

pytestmark = pytest.mark.browser
FAST = {'model.data_preprocessor.short_side': 112}
TIMEOUT_MS = 60_000  # a first run builds the model on busy cores


def _require_browser() -> None:
    reason = unavailable_reason()
    if reason and os.environ.get('CI'):
        pytest.fail(f'CI must run the browser tests, but {reason}')
    if reason:
        pytest.skip(f'browser tests skipped: {reason}')


@pytest.fixture(scope='module')
def app_url(tiny_clip_path, tmp_path_factory):
    _require_browser()
    from sclip_toolkit.apps.web import build_app, launch

    options = AppOptions(checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST)
    demo = build_app(SegmentationService(options, work_dir=tmp_path_factory.mktemp('runs')))
    _, url, _ = launch(demo, port=free_port(), block=False, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope='module')
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport=dict(width=1400, height=1000), accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    yield page
    context.close()


def upload(page, path: Path) -> None:
    clear = page.locator('#image-file button[aria-label="Clear"]')
    if clear.count():  # a file is there already: remove it first, as a user would
        clear.click()
    page.locator('#image-file input[type=file]').set_input_files(str(path))
    page.locator('#image-info').get_by_text(path.name).wait_for()  # the server has the file


def start_run(page, classes: str, methods=('sclip',)) -> None:
    page.locator('#classes textarea').fill(classes)
    for name in page.locator('#methods label').all_inner_texts():  # the methods that can run here
        page.locator('#methods').get_by_label(name.strip(), exact=True).set_checked(name.strip() in methods)
    page.locator('#run').click()


def wait_ok(page) -> str:
    status = page.locator('#status .sclip-status.ok')
    status.wait_for()
    return status.inner_text()


def folded(page):
    """The names folded away for having no pixels."""
    text = page.locator('#legend .absent-names')
    return [n.strip() for n in text.text_content().split(',')] if text.count() else []


def legend(page, method: str):
    names = page.locator('#legend tr.legend-row td.name').all_inner_texts()
    cells = page.locator(f'#legend td.share[data-method="{method}"]')
    shares = [float(cells.nth(i).get_attribute('data-share')) for i in range(cells.count())]
    shown = [float(t.rstrip('%')) for t in cells.all_inner_texts()]
    return names, shares, shown


def download(page, suffix: str) -> Path:
    row = page.locator('#downloads tr', has=page.locator(f'td.filename[aria-label$="{suffix}"]'))
    with page.expect_download() as info:
        row.locator('a').click()
    return Path(info.value.path())


def test_three_classes_legend_download_and_pixel(page):
    upload(page, EXAMPLE_IMAGE)
    start_run(page, 'cup; wooden table, table; coffee')
    assert 'coffee.jpg (600x400)' in wait_ok(page)
    image = page.locator('#result img')
    assert image.evaluate('img => img.naturalWidth') >= 600
    names, shares, shown = legend(page, 'sclip')
    assert sorted(names + folded(page)) == ['coffee', 'cup', 'wooden table']
    assert sum(shares) == pytest.approx(1.0, abs=1e-9)
    assert sum(shown) == pytest.approx(100.0, abs=0.05 * len(shown) + 1e-9)
    labels = Image.open(download(page, '_sclip_labels.png'))
    assert labels.mode == 'P' and labels.size == (600, 400)
    label_map = np.asarray(labels)
    counts = np.bincount(label_map.ravel(), minlength=3) / label_map.size
    assert [counts[['cup', 'wooden table', 'coffee'].index(n)] for n in names] == pytest.approx(shares)
    # Click image pixel (450, 100) of the overlay: the table names that pixel's class in the label map.
    box, natural = image.bounding_box(), image.evaluate('img => img.naturalWidth')
    scale = box['width'] / natural
    image.click(position=dict(x=450.5 * scale, y=100.5 * scale))
    row = page.locator('#pixel table.sclip-pixel tbody tr').first
    row.wait_for()
    cells = row.locator('td').all_inner_texts()
    assert cells[0] == 'sclip'
    x, y = int(cells[1]), int(cells[2])
    assert abs(x - 450) <= 2 and abs(y - 100) <= 2
    assert cells[3].strip() == names[label_map[y, x]]


def test_two_methods_two_panels_with_a_class_file(page, tmp_path):
    class_file = tmp_path / 'my_classes.txt'
    class_file.write_text('cup\nwooden table, table\ncoffee\n')
    upload(page, EXAMPLE_IMAGE)
    page.locator('#class-file input[type=file]').set_input_files(str(class_file))
    page.locator('#class-file td.filename[aria-label="my_classes.txt"]').wait_for()
    start_run(page, 'typed classes are not used when a file is given', methods=('sclip', 'naclip'))
    wait_ok(page)
    headers = page.locator('#legend thead th').all_inner_texts()
    assert headers == ['colour', 'class', 'naclip', 'sclip']  # the page's order of methods (sorted)
    assert sorted(legend(page, 'naclip')[0] + folded(page)) == ['coffee', 'cup', 'wooden table']
    for method in ('sclip', 'naclip'):
        assert sum(legend(page, method)[1]) == pytest.approx(1.0, abs=1e-9)
    summary = json.loads(download(page, '_compare.json').read_text())
    assert [p['title'] for p in summary['layout']['panels']] == ['naclip', 'sclip']
    assert page.locator('#result img').evaluate('img => img.naturalWidth') >= 2 * 600


def test_text_file_named_png_then_a_good_image(page, tmp_path):
    fake = tmp_path / 'holiday.png'
    fake.write_text('not a picture, just text\n' * 20)
    upload(page, fake)
    start_run(page, 'cup; table')
    error = page.locator('#status .sclip-status.error')
    error.wait_for()
    assert 'holiday.png is not an image that can be read' in error.inner_text()
    assert 'Traceback' not in page.content()
    upload(page, EXAMPLE_IMAGE)
    page.locator('#run').click()
    assert 'coffee.jpg' in wait_ok(page)
    assert sorted(legend(page, 'sclip')[0] + folded(page)) == ['cup', 'table']


def test_two_sessions_at_once_get_their_own_results(browser, app_url):
    vocabularies = ['cup; table; coffee', 'spoon, teaspoon; saucer; wall; light']
    contexts = [browser.new_context(viewport=dict(width=1400, height=1000)) for _ in vocabularies]
    try:
        pages = [c.new_page() for c in contexts]
        for page in pages:
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(app_url)
            upload(page, EXAMPLE_IMAGE)
        for page, words in zip(pages, vocabularies):
            start_run(page, words, methods=('sclip', 'clearclip') if words.startswith('spoon') else ('sclip',))
        for page, words in zip(pages, vocabularies):
            wait_ok(page)
            names, shares, _ = legend(page, 'sclip')
            expected = [c.split(',')[0].strip() for c in words.split(';')]
            assert names == [n for n in expected if n in names] and sorted(names + folded(page)) == sorted(expected)
            assert sum(shares) == pytest.approx(1.0, abs=1e-9)
        assert pages[1].locator('#legend thead th').all_inner_texts()[2:] == ['clearclip', 'sclip']
        assert pages[0].locator('#legend thead th').all_inner_texts()[2:] == ['sclip']
    finally:
        for context in contexts:
            context.close()

"""The page under hostile and heavy use, in headless Chromium: layout at 1400x1000, method readiness, settings typos,
a full queue, per-method overlays, the class syntax read back, large images and many classes."""
from __future__ import annotations

import json
import threading

import pytest
from PIL import Image

from sclip_toolkit.apis import EXAMPLE_IMAGE
from sclip_toolkit.apps.page import BUSY
from sclip_toolkit.apps.service import AppOptions, SegmentationService
from sclip_toolkit.testing import free_port
from tests.apps.test_web import (FAST, TIMEOUT_MS, _require_browser, app_url, browser, download,  # noqa
                                 folded, legend, page, start_run, upload, wait_ok)

pytestmark = pytest.mark.browser


def test_layout_readiness_and_default_method(page, tiny_clip_path):
    service = SegmentationService(AppOptions(checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST))
    run = page.locator('#run').bounding_box()
    assert run['y'] + run['height'] <= 1000, f'Segment button at y={run["y"]:.0f}, below the fold'
    checked = [label for label in page.locator('#methods label').all_inner_texts()
               if page.locator('#methods').get_by_label(label.strip(), exact=True).is_checked()]
    assert checked == [service.default_method] and service.default_method != sorted(service.methods)[0]
    unready = page.locator('#unready .sclip-unready:has(label[data-method="proxyclip"])')
    assert unready.locator('label[data-method="proxyclip"] input[type=checkbox]').is_disabled()
    assert 'cannot run: it needs the DINO weights (dino_vitbase8_pretrain.pth)' in unready.inner_text()
    assert page.locator('#methods').get_by_label('proxyclip', exact=True).count() == 0
    weights = page.locator('#weights').inner_text()
    assert tiny_clip_path.name in weights and str(tiny_clip_path.parent) not in weights
    page.locator('#advanced').get_by_text('Advanced settings').click()
    for field in ('logit-scale', 'prob-thd', 'pamr-steps', 'crop-size', 'stride'):
        box = page.locator(f'#{field} input, #{field} textarea').first
        box.wait_for()
        # the placeholder's drawn width fits the field's inner width
        fits = box.evaluate("""el => { const s = getComputedStyle(el); const c = document.createElement('canvas')
            .getContext('2d'); c.font = `${s.fontSize} ${s.fontFamily}`;
            const inner = el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
            return c.measureText(el.placeholder).width <= inner; }""")
        assert fits, field


def test_settings_typo_is_flagged_in_place_and_keeps_the_result(page):
    upload(page, EXAMPLE_IMAGE)
    start_run(page, 'cup; table')
    wait_ok(page)
    src = page.locator('#result img').get_attribute('src')
    page.locator('#advanced').get_by_text('Advanced settings').click()
    page.locator('#logit-scale textarea, #logit-scale input').first.fill('4O')
    check = page.locator('#settings-check .sclip-status.error')
    check.wait_for()
    assert "Logit scale: '4O' is not a number" in check.inner_text()
    page.locator('#run').click()
    page.locator('#status .sclip-status.error').wait_for()
    assert "'4O' is not a number" in page.locator('#status').inner_text()
    assert page.locator('#result img').get_attribute('src') == src
    assert sorted(legend(page, 'sclip')[0] + folded(page)) == ['cup', 'table']


def test_comparison_offers_each_methods_overlay_and_records_settings(page):
    upload(page, EXAMPLE_IMAGE)
    start_run(page, 'sky, tree, person, road', methods=('sclip', 'naclip'))
    status = wait_ok(page)
    assert 'Read as one class with 4 names (sky, tree, person, road)' in status
    assert 'Settings: naclip' in status and 'logit scale' in status
    image = page.locator('#result img')
    # nothing of Gradio's lies over the top-left panel's title (the top 30 pixels of the picture's left half)
    covered = image.evaluate("""img => { const r = img.getBoundingClientRect(); const hits = [];
        for (let x = r.left + 4; x < r.left + r.width / 2; x += 16) { for (const y of [r.top + 4, r.top + 20]) {
            const el = document.elementFromPoint(x, y);
            if (el !== img) hits.push([x, y, el && el.outerHTML.slice(0, 80)]); } }
        return hits; }""")
    assert covered == []
    assert image.evaluate('img => img.naturalWidth') >= 1200
    views = page.locator('#view label').all_inner_texts()
    assert [v.strip() for v in views] == ['comparison', 'naclip', 'sclip']
    page.locator('#view').get_by_label('sclip', exact=True).check()
    page.wait_for_function("() => document.querySelector('#result img').naturalWidth === 600")
    summary = json.loads(download(page, '_compare.json').read_text())
    assert summary['demo_command'].startswith('python demo.py --image coffee.jpg --classes')
    assert summary['methods'][0]['settings']['changed'] == []


def test_large_image_preview_and_many_classes(page, tmp_path):
    big = tmp_path / 'big.jpg'
    Image.open(EXAMPLE_IMAGE).resize((4000, 2667)).save(big)
    upload(page, big)
    info = page.locator('#image-info').inner_text()
    assert 'scaled down from 4000x2667' in info
    assert page.locator('#preview img').evaluate('img => img.naturalWidth') <= 1600
    start_run(page, '; '.join(f'class{i}' for i in range(200)))
    wait_ok(page)
    rows = page.locator('#legend tr.legend-row').count()
    folded = page.locator('#legend details.sclip-absent summary').inner_text()
    assert folded == f'{200 - rows} classes with no pixels (0%)'


@pytest.fixture
def gated_url(tiny_clip_path, tmp_path):
    """An app with room for one run and one waiting, whose runs wait for a gate."""
    _require_browser()
    from sclip_toolkit.apps.web import build_app, launch

    gate = threading.Event()
    gate.set()

    class Gated(SegmentationService):
        def segment(self, *args, **kwargs):
            gate.wait(120)
            return super().segment(*args, **kwargs)

    options = AppOptions(checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST, concurrency=1,
                         queue_size=1)
    demo = build_app(Gated(options, work_dir=tmp_path))
    _, url, _ = launch(demo, port=free_port(), block=False, quiet=True)
    yield url, gate
    gate.set()
    demo.close()


def test_full_queue_says_busy_and_keeps_the_result(browser, gated_url):
    url, gate = gated_url
    contexts = [browser.new_context(viewport=dict(width=1400, height=1000)) for _ in range(3)]
    try:
        pages = [c.new_page() for c in contexts]
        for page in pages:
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            upload(page, EXAMPLE_IMAGE)
        first, second, third = pages
        start_run(third, 'cup; table')
        wait_ok(third)
        src = third.locator('#result img').get_attribute('src')
        gate.clear()
        start_run(first, 'cup')
        start_run(second, 'table')
        first.wait_for_timeout(1500)  # both admitted: one running, one waiting
        third.locator('#run').click()
        third.get_by_text(BUSY).first.wait_for()
        assert third.locator('#result img').get_attribute('src') == src
        assert third.locator('#preview img').is_visible()
        for output in ('#result', '#preview', '#legend', '#downloads', '#status'):  # no error badge anywhere
            assert third.locator(f'{output} .error').count() == 0, output
        gate.set()
        wait_ok(first)
        wait_ok(second)
    finally:
        gate.set()
        for context in contexts:
            context.close()

"""The app's work under hostile and heavy use, without a browser: image and name limits, bounded memory, a
comparison that survives a method that cannot run, runs that record how to repeat them."""
from __future__ import annotations

import gc
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit.apis import EXAMPLE_IMAGE
from sclip_toolkit.apps.readiness import PREFERENCE, default_method
from sclip_toolkit.apps.results import LOOKUP_SIDE
from sclip_toolkit.apps.service import AppOptions, SegmentationService, UserError, hide_paths, load_rgb
from sclip_toolkit.apps.vocabulary import parse_vocabulary, reading_note
from tests.apis.test_inputs import bomb_png

FAST = {'model.data_preprocessor.short_side': 112}


@pytest.fixture(scope='module')
def service(tiny_clip_path, tmp_path_factory):
    options = AppOptions(checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST, max_side=500,
                         lookup_bytes=4 << 20)
    return SegmentationService(options, work_dir=tmp_path_factory.mktemp('runs'))


def test_bomb_refused_in_one_line_and_large_images_decoded_reduced(tmp_path):
    with pytest.raises(UserError, match=r"^bomb.png: the picture has 30000x30000 = 900 megapixels, above the limit "
                                        r"of 100 megapixels, this server's limit; scale it down") as info:
        load_rgb(str(bomb_png(tmp_path / 'bomb.png')), 1600)
    assert str(tmp_path) not in str(info.value)
    big = tmp_path / 'big.jpg'
    Image.new('RGB', (4000, 3000), (200, 100, 50)).save(big)
    rgb, original = load_rgb(str(big), 400)
    assert rgb.shape == (300, 400, 3) and original == (4000, 3000)


def test_class_names_bounded_and_invisible_characters_refused(tmp_path):
    with pytest.raises(UserError, match=r'^class 2: a name of 201 characters .* at most 200 characters'):
        parse_vocabulary('cup; ' + 'x' * 201, None, 10, 200)
    assert parse_vocabulary('cup; ' + 'x' * 200, None, 10, 200)[1] == ['x' * 200]
    with pytest.raises(UserError, match=r'^classes line 2: an invisible character U\+200B \(zero width space\)'):
        parse_vocabulary('cup;\ntea\u200bpot', None, 10)
    path = tmp_path / 'mine.txt'
    path.write_text('cat\ndog\x07\n')
    with pytest.raises(UserError, match=r'^mine.txt line 2: an invisible character U\+0007'):
        parse_vocabulary(None, str(path), 10)


def test_commas_without_semicolons_are_read_back():
    classes = parse_vocabulary('sky, tree, person, road', None, 10)
    assert classes == [['sky', 'tree', 'person', 'road']]
    note = reading_note('sky, tree, person, road', None, classes)
    assert note.startswith('Read as one class with 4 names (sky, tree, person, road)') and '";"' in note
    assert reading_note('sky, cloud; tree', None, parse_vocabulary('sky, cloud; tree', None, 10)) is None


def test_a_comparison_survives_a_method_that_cannot_run(service):
    assert service.readiness['sclip'] is None
    reason = service.readiness['proxyclip']
    assert reason.startswith('it needs the DINO weights (dino_vitbase8_pretrain.pth)') and '/' not in reason
    out = service.segment(str(EXAMPLE_IMAGE), 'sky, tree, person, road', None, ['sclip', 'proxyclip', 'naclip'], {})
    assert [m['method'] for m in out.summary['methods']] == ['sclip', 'naclip']
    assert out.skipped == {'proxyclip': f'proxyclip did not run: {reason}'}
    assert out.summary['not_run'] == out.skipped and f'proxyclip did not run: {reason}.' in out.status
    assert 'Read as one class with 4 names' in out.status
    # per-method overlays besides the comparison, each with its own click boxes
    assert [name for name, _ in out.views] == ['comparison', 'sclip', 'naclip']
    lookup = service.lookups.get(out.lookup_key)
    assert Image.open(out.views[1][1]).size[0] == 500 and lookup.views['sclip'] == [[0, 0, 500, 333]]
    assert lookup.rows('naclip', 10, 10)[0][:3] == ['sclip', 10, 10]
    with pytest.raises(UserError, match=r'^proxyclip did not run: it needs the DINO weights'):
        service.segment(str(EXAMPLE_IMAGE), 'cup', None, ['proxyclip'], {})


def test_settings_recorded_with_the_demo_command(service, tiny_clip_path):
    import demo

    out = service.segment(str(EXAMPLE_IMAGE), 'cup; table', None, ['sclip'], dict(logit_scale='50', pamr_steps='2'))
    used = out.summary['settings']
    assert used['logit_scale'] == 50 and used['pamr_steps'] == 2 and used['max_side'] == 500
    assert used['changed'] == ['logit_scale', 'pamr_steps'] and used['crop_size'] == 224
    assert 'logit scale 50' in out.status and 'pamr steps 2' in out.status
    assert out.summary['checkpoint'] == tiny_clip_path.name  # a file name, not the server's path
    command = out.summary['demo_command']
    argv = shlex.split(command)[2:]
    args = demo.build_parser().parse_args(argv)
    assert args.method == 'sclip' and args.classes == 'cup; table' and args.max_side == 500
    from sclip_toolkit.config import parse_cfg_options
    options = parse_cfg_options(args.cfg_options)
    assert options['model.logit_scale'] == 50 and options['model.data_preprocessor.short_side'] == 112
    assert [s['type'] for s in options['model.post_process']][0] == 'PAMR'
    assert options['model.post_process'][0]['steps'] == 2


@pytest.mark.slow
def test_click_data_memory_stays_flat_over_50_requests(service, tmp_path):
    """The click data of every run is kept at display size under one least-recently-used bound; the process does
    not grow with the number of requests."""
    def rss() -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * 4096

    image = tmp_path / 'small.png'  # small, so that 50 runs take seconds on the CPU
    Image.open(EXAMPLE_IMAGE).resize((168, 112)).save(image)
    for _ in range(5):  # warm: models built, caches filled
        service.segment(str(image), 'cup; table; coffee', None, ['sclip'], {})
    service.lookups.max_bytes = 1 << 20  # room for about 13 runs of this size
    gc.collect()
    before, keys = rss(), []
    for i in range(50):
        out = service.segment(str(image), 'cup; table; coffee', None, ['sclip'], {})
        keys.append(out.lookup_key)
        assert service.lookups.nbytes <= service.options.lookup_bytes
    gc.collect()
    grown = rss() - before
    lookup = service.lookups.get(keys[-1])
    assert max(lookup.labels[0].shape) <= LOOKUP_SIDE and lookup.labels[0].dtype == np.int16
    assert len(service.lookups) < 50 and service.lookups.get(keys[0]) is None  # the oldest were dropped
    print(f'memory grew by {grown / 2 ** 20:.1f} MiB over 50 requests')
    assert grown < 40 << 20, f'memory grew by {grown / 2 ** 20:.0f} MiB over 50 requests'


def test_default_method_is_the_best_scoring_ready_one():
    methods = ['clearclip', 'corrclip', 'naclip', 'proxyclip', 'sclip', 'vanilla', 'mine']
    ready = {m: None for m in methods}
    assert default_method(methods, ready) == 'corrclip'
    ready.update(corrclip='needs SAM 2', proxyclip='needs DINO')
    assert default_method(methods, ready) == 'naclip'
    assert default_method(['mine', 'other'], {}) == 'mine' and PREFERENCE[-1] == 'vanilla'


def test_paths_hidden_unless_asked():
    text = "CLIP weights 'ViT-B-16' not found at /root/.cache/clip/ViT-B-16.pt; or ~/x/y.pth"
    assert hide_paths(text) == "CLIP weights 'ViT-B-16' not found at ViT-B-16.pt; or y.pth"
    assert hide_paths(text, show_paths=True) == text


def test_legend_folds_classes_without_pixels(service):
    names = '; '.join(f'class{i}' for i in range(200))
    out = service.segment(str(EXAMPLE_IMAGE), names, None, ['sclip'], {})
    present = sum(1 for c in out.summary['classes'] if c['pixels'])
    assert out.legend.count('class="legend-row"') == present < 200
    assert f'{200 - present} classes with no pixels (0%)' in out.legend
    layout = out.summary['overlay_layout']
    assert len(layout['legend']) == present
    assert len({tuple(c['color']) for c in out.summary['classes']}) == 200
    json.dumps(out.summary)
    assert Path(out.views[0][1]).is_file()


def test_vfm_and_sam_options_reach_only_the_methods_that_take_them(tmp_path, tiny_clip_path, monkeypatch):
    """The server's --vfm-checkpoint and --sam-checkpoint / --sam-refine go to the methods with a VFM or SAM: the
    others stay ready (they would refuse the options), Trident is ready only when its SAM weights are there, and
    the demo command repeats what its methods take."""
    from sclip_toolkit.apps.readiness import method_readiness
    from sclip_toolkit.apps.record import demo_command

    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))  # no cached DINO or SAM weights
    dino, sam = tmp_path / 'dino_vitb16.pth', tmp_path / 'sam_vit_b.pth'
    dino.write_bytes(b'weights')  # only the files' presence is checked
    options = AppOptions(checkpoint=str(tiny_clip_path), vfm_checkpoint=str(dino))
    ready = method_readiness(['trident', 'sclip', 'proxyclip'], options)
    assert 'needs the SAM vit_b weights' in ready['trident'] and ready['sclip'] is None and ready['proxyclip'] is None
    options = AppOptions(checkpoint=str(tiny_clip_path), vfm_checkpoint=str(dino), sam_checkpoint=str(sam),
                         sam_refine=True)
    assert method_readiness(['trident'], options) == {'trident': 'its SAM weights file sam_vit_b.pth is missing'}
    sam.write_bytes(b'weights')
    assert method_readiness(['trident', 'sclip'], options) == {'trident': None, 'sclip': None}
    command = demo_command('a.png', [['cup']], None, ['sclip', 'trident'], {}, options)
    assert '--vfm-checkpoint dino_vitb16.pth --sam-checkpoint sam_vit_b.pth --sam-refine' in command
    assert '--vfm' not in demo_command('a.png', [['cup']], None, ['sclip'], {}, options)
    assert '--sam' not in demo_command('a.png', [['cup']], None, ['proxyclip'], {}, options)
    assert default_method(['sclip', 'trident', 'ovstitcher'], {'ovstitcher': 'needs SAM 2'}) == 'trident'

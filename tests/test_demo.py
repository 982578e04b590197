"""demo.py end to end with a tiny random CLIP: files written, their consistency, --compare, and its errors."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit.apis import EXAMPLE_IMAGE
from sclip_toolkit.apis.visualize import MARGIN, class_colors, overlay
from sclip_toolkit.methods import available_methods
from sclip_toolkit.models.checkpoint import file_fingerprint

ROOT = Path(__file__).resolve().parents[1]
FAST = ['--cfg-options', 'model.data_preprocessor.short_side=112']


def _load_demo():
    spec = importlib.util.spec_from_file_location('sclip_demo', ROOT / 'demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def _picture(path: Path, h: int = 90, w: int = 130) -> Path:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, ((x // 20 + y // 20) % 2) * 200], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def _check_outputs(summary_path: Path, image_size, names):
    """The JSON, overlay and label PNG of one run agree with each other and with the image."""
    summary = json.loads(summary_path.read_text())
    width, height = image_size
    assert summary['size'] == dict(width=width, height=height)
    assert [c['name'] for c in summary['classes']] == names
    colors = class_colors(len(names))

    labels_png = Image.open(summary['outputs']['labels'])
    assert labels_png.mode == 'P' and labels_png.size == (width, height)
    assert labels_png.getpalette()[:3 * len(names)] == colors.reshape(-1).tolist()
    labels = np.asarray(labels_png)
    assert labels.max() < len(names)
    counts = np.bincount(labels.ravel(), minlength=len(names))
    for c, entry in enumerate(summary['classes']):
        assert entry['color'] == colors[c].tolist()
        assert entry['pixels'] == counts[c]
        assert entry['pixel_share'] == pytest.approx(counts[c] / labels.size)
        assert (entry['mean_score'] is None) == (counts[c] == 0)
        if entry['mean_score'] is not None:
            assert 0 < entry['mean_score'] <= 1

    picture = np.asarray(Image.open(summary['outputs']['overlay']).convert('RGB'))
    layout = summary['overlay_layout']
    assert layout['image_box'] == [0, 0, width, height]
    legend = layout['legend']
    assert len(legend) == len(names)
    for entry, c in zip(legend, summary['classes']):
        assert entry['text'] == f"{c['name']}  {100 * c['pixel_share']:.1f}%"
        x0, y0, x1, y1 = entry['swatch']
        np.testing.assert_array_equal(picture[(y0 + y1) // 2, (x0 + x1) // 2], c['color'])
    assert set(summary['timing']) == {'load_s', 'text_s', 'inference_s', 'total_s'}
    return summary, labels, picture


def test_demo_on_a_generated_image(tmp_path, tiny_clip_path):
    image = _picture(tmp_path / 'scene.png')
    rc = demo.main(['--image', str(image), '--classes', 'sky, cloud; tree; person, man, woman',
                    '--checkpoint', str(tiny_clip_path), '--device', 'cpu', '--out', str(tmp_path / 'out'),
                    '--quiet'] + FAST)
    assert rc == 0
    summary, labels, picture = _check_outputs(tmp_path / 'out' / 'scene_sclip.json', (130, 90),
                                              ['sky', 'tree', 'person'])
    assert summary['classes'][0]['names'] == ['sky', 'cloud'] and summary['method'] == 'sclip'
    assert summary['image'] == str(image.resolve()) and summary['bundled_example'] is False
    # the weights used and the backbone as built from them (the tiny checkpoint, not the default ViT-B/16)
    assert summary['weights'] == [dict(role='clip', path=str(tiny_clip_path.resolve()), id=summary['weights'][0]['id'],
                                       fingerprint=file_fingerprint(tiny_clip_path))]
    assert summary['weights'][0]['id'] == f'file:{file_fingerprint(tiny_clip_path)}'
    backbone = summary['backbone']
    assert (backbone['width'], backbone['layers'], backbone['patch_size']) == (128, 12, 16)
    assert backbone['name'] == 'ViT (width 128, 12 layers, patch 16)'
    rgb = np.asarray(Image.open(image))
    np.testing.assert_array_equal(picture[:90, :130], overlay(rgb, labels.astype(np.int64), class_colors(3)))


def test_demo_defaults_to_the_bundled_photo(tmp_path, tiny_clip_path, capsys):
    class_file = tmp_path / 'words.txt'
    rc = demo.main(['--checkpoint', str(tiny_clip_path), '--device', 'cpu', '--out', str(tmp_path), '--classes', ''])
    assert rc == 0
    summary, _, _ = _check_outputs(tmp_path / 'coffee_sclip.json', (600, 400),
                                   ['coffee', 'cup', 'saucer', 'spoon', 'wooden table'])
    assert summary['bundled_example'] is True and summary['image'] == str(EXAMPLE_IMAGE)
    captured = capsys.readouterr()
    assert 'loading sclip' in captured.err and 'crop' in captured.err  # progress on stderr
    assert 'wooden table' in captured.out and 'coffee_sclip_overlay.png' in captured.out
    assert "--classes is empty; using the bundled photo's classes" in captured.err
    class_file.write_text('# what to look for\ncup; mug\n  # saucers too\nsaucer\n\n\n', encoding='utf-8')
    assert demo.main(['--class-file', str(class_file), '--checkpoint', str(tiny_clip_path), '--device', 'cpu',
                      '--out', str(tmp_path / 'b'), '--quiet', '--method', 'vanilla'] + FAST) == 0
    _check_outputs(tmp_path / 'b' / 'coffee_vanilla.json', (600, 400), ['cup', 'saucer'])


def test_compare_has_one_panel_per_method(tmp_path, tiny_clip_path):
    image = _picture(tmp_path / 'scene.png', 60, 150)
    methods = ['sclip', 'vanilla', 'maskclip']
    rc = demo.main(['--image', str(image), '--classes', 'a; b; c', '--compare', ','.join(methods),
                    '--checkpoint', str(tiny_clip_path), '--device', 'cpu', '--out', str(tmp_path), '--quiet'] + FAST)
    assert rc == 0
    summary = json.loads((tmp_path / 'scene_compare.json').read_text())
    compare = Image.open(tmp_path / 'scene_compare.png')
    assert summary['layout']['grid'] == [1, 3]
    assert [p['title'] for p in summary['layout']['panels']] == methods
    assert summary['layout']['legend_title'] == 'pixel share per method (%): sclip / vanilla / maskclip'
    shares = [[c['pixel_share'] for c in m['classes']] for m in summary['methods']]
    assert summary['layout']['legend'][1]['text'] == 'b  ' + ' / '.join(f'{100 * s[1]:.1f}' for s in shares) + ' %'
    assert [m['method'] for m in summary['methods']] == methods and len(summary['layout']['legend']) == 3
    rgb, pixels = np.asarray(Image.open(image)), np.asarray(compare.convert('RGB'))
    for method, panel in zip(methods, summary['layout']['panels']):
        labels = np.asarray(Image.open(tmp_path / f'scene_{method}_labels.png')).astype(np.int64)
        x0, y0, x1, y1 = panel['box']
        np.testing.assert_array_equal(pixels[y0:y1, x0:x1], overlay(rgb, labels, class_colors(3)))
    agree = summary['pixel_agreement']['sclip/vanilla']
    a, b = (np.asarray(Image.open(tmp_path / f'scene_{m}_labels.png')) for m in ('sclip', 'vanilla'))
    assert agree == pytest.approx(float(np.mean(a == b)))


@pytest.mark.parametrize('argv,message', [
    (['--image', 'x.png'], 'say what to look for'),
    (['--method', 'sclip', '--compare', 'sclip,naclip'], 'either --method or --compare'),
    (['--classes', 'a', '--class-file', 'f.txt'], 'not allowed with argument'),
    (['--compare', 'sclip,naclip,sclip'], 'lists a method twice'),
    (['--alpha', '1.5'], '--alpha must be between 0 and 1'),
    (['--image', 'x.png', '--classes', ''], '--classes is empty: say what to look for'),
    (['--image', 'x.png', '--classes', ' ; '], '--classes is empty'),
    (['--out', __file__], f'--out {__file__} is a file; give a folder'),
])
def test_argument_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize('argv,message', [
    (['--method', 'sclipp'], f"unknown method 'sclipp'; valid: {', '.join(available_methods())}"),
    (['--compare', 'sclip,segformer'], "unknown method 'segformer'; valid: clearclip, corrclip, maskclip"),
    (['--class-file', 'words'], "class-name file 'words' not found"),
    (['--image', 'missing.png', '--classes', 'a'], "image file 'missing.png' not found"),
    (['--classes', 'a; a'], "class 2 of --classes: name 'a' already appears in class 1 of --classes"),
    (['--classes', 'a; b,,c'], "class 2 of --classes: empty name in 'b,,c'"),
    (['--checkpoint', 'nowhere.pt'], 'CLIP checkpoint nowhere.pt does not exist'),
    (['--cfg-options', 'model.logit_scale'], "--cfg-options 'model.logit_scale': expected KEY=VALUE"),
    (['--cfg-options', 'model.logit_scale=banana'], "model.logit_scale: expected a number, got 'banana'"),
    (['--cfg-options', 'model.logit_scalee=1'], "model.logit_scalee: unknown key of OVSegmentor (did you mean 'logit_scale'?)"),
    (['--device', 'tpu'], '--device tpu: not a device; use --device cpu, cuda or cuda:N'),
])
def test_bad_inputs_exit_2_with_a_message(argv, message, capsys, tmp_path):
    device = [] if '--device' in argv else ['--device', 'cpu']
    assert demo.main(argv + ['--out', str(tmp_path / 'out'), '--quiet'] + device) == 2
    err = capsys.readouterr().err
    assert message in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'out').exists()  # nothing was written, not even an empty folder


def test_a_failed_run_leaves_no_empty_output_folder(tmp_path, tiny_clip_path, capsys):
    out = tmp_path / 'new' / 'out'
    rc = demo.main(['--checkpoint', str(tiny_clip_path), '--device', 'cpu', '--out', str(out), '--quiet',
                    '--cfg-options', f'model.text_encoder.templates={tmp_path / "no_templates.txt"}'])
    assert rc == 2 and 'no_templates.txt' in capsys.readouterr().err
    assert not out.exists()


def test_compare_checks_every_methods_weights_first(tmp_path, tiny_clip_path, capsys, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))  # no cached DINO weights
    rc = demo.main(['--compare', 'sclip,proxyclip', '--checkpoint', str(tiny_clip_path), '--device', 'cpu',
                    '--out', str(tmp_path / 'out')])
    err = capsys.readouterr().err
    assert rc == 2 and 'proxyclip: dino weights dino_vitbase8_pretrain.pth not found' in err
    assert '--vfm-checkpoint' in err and 'checkpoint=' not in err  # command-line words
    assert 'loading sclip' not in err and not (tmp_path / 'out').exists()  # sclip was not run first


def test_vfm_and_sam_options_go_to_the_methods_that_take_them(tmp_path, tiny_clip_path, capsys):
    """--vfm-checkpoint reaches the methods with a VFM and --sam-checkpoint / --sam-refine Trident (their weights are
    checked first), not the other methods of a comparison; an option that no chosen method takes is an error."""
    base = ['--checkpoint', str(tiny_clip_path), '--device', 'cpu', '--out', str(tmp_path / 'out'), '--quiet']
    assert demo.main(['--method', 'sclip', '--sam-refine'] + base) == 2
    assert '--sam-refine is for methods that use SAM (trident); none of sclip does' in capsys.readouterr().err
    assert demo.main(['--compare', 'sclip,naclip', '--vfm-checkpoint', 'dino.pth'] + base) == 2
    assert ('--vfm-checkpoint is for methods that use a vision foundation model; none of sclip, naclip does'
            in capsys.readouterr().err)
    dino, missing = tmp_path / 'dino.pth', tmp_path / 'sam_missing.pth'
    dino.write_bytes(b'weights')
    rc = demo.main(['--compare', 'sclip,trident', '--vfm-checkpoint', str(dino), '--sam-checkpoint', str(missing),
                    '--sam-refine'] + base)
    err = capsys.readouterr().err
    assert rc == 2 and f'trident: SAM checkpoint {missing} does not exist' in err and 'uses no' not in err
    assert not (tmp_path / 'out').exists()


def test_a_folder_of_images_gives_one_result_per_image(tmp_path, tiny_clip_path, capsys):
    folder = tmp_path / 'photos'
    folder.mkdir()
    _picture(folder / 'a.png', 40, 60)
    _picture(folder / 'b.jpg', 50, 30)
    (folder / 'notes.txt').write_text('not an image')
    rc = demo.main(['--image', str(folder), '--classes', 'sky; tree', '--checkpoint', str(tiny_clip_path),
                    '--device', 'cpu', '--out', str(tmp_path / 'out')] + FAST)
    assert rc == 0
    for stem, size in (('a', (60, 40)), ('b', (30, 50))):
        _check_outputs(tmp_path / 'out' / f'{stem}_sclip.json', size, ['sky', 'tree'])
    captured = capsys.readouterr()
    assert '2/2' in captured.err  # the progress bar over the images
    assert f'segmented 2 of 2 images of {folder}' in captured.out
    (tmp_path / 'empty').mkdir()
    assert demo.main(['--image', str(tmp_path / 'empty'), '--classes', 'a', '--out', str(tmp_path / 'o2')]) == 2
    assert 'is a folder without images' in capsys.readouterr().err


def test_folder_names_never_collide_and_a_bad_file_is_skipped(tmp_path, tiny_clip_path, capsys):
    """Issue 22, case 5: a.jpg and a.png both get their outputs; a corrupt file is listed, the rest is done."""
    folder = tmp_path / 'photos'
    folder.mkdir()
    _picture(folder / 'a.jpg', 40, 60)
    _picture(folder / 'a.png', 50, 30)
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    _picture(folder / 'c.png', 20, 20)
    rc = demo.main(['--image', str(folder), '--classes', 'sky; tree', '--checkpoint', str(tiny_clip_path),
                    '--device', 'cpu', '--out', str(tmp_path / 'out'), '--quiet'] + FAST)
    assert rc == 1  # something was skipped
    for stem, size in (('a.jpg', (60, 40)), ('a.png', (30, 50)), ('c', (20, 20))):
        summary, _, _ = _check_outputs(tmp_path / 'out' / f'{stem}_sclip.json', size, ['sky', 'tree'])
        assert summary['image'] == str((folder / (stem if '.' in stem else 'c.png')).resolve())
    assert not list((tmp_path / 'out').glob('broken*')) and not list((tmp_path / 'out').glob('a_sclip*'))
    captured = capsys.readouterr()
    assert f'segmented 3 of 4 images of {folder}' in captured.out
    for line in ('a.jpg -> a.jpg_sclip_*', 'a.png -> a.png_sclip_*', 'c.png -> c_sclip_*'):
        assert line in captured.out
    assert 'skipped 1 image (nothing written for them):' in captured.err
    assert 'broken.jpg: ' in captured.err and 'Traceback' not in captured.err


def test_output_stems():
    paths = [Path(n) for n in ('a.jpg', 'a.png', 'A.JPG', 'b.png', 'a.jpg.png')]
    from sclip_toolkit.apis.folder_run import output_stems

    stems = output_stems(paths)
    assert stems == ['a.jpg~2', 'a.png', 'A.JPG~3', 'b', 'a.jpg']  # a unique stem keeps its name
    assert len({s.casefold() for s in stems}) == len(stems)


def test_unwritable_out_is_refused_before_any_model_is_loaded(tmp_path, tiny_clip_path, capsys, monkeypatch):
    """Issue 22, case 7: a read-only --out was found after inference, losing the result."""
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, 'Read-only file system')

    monkeypatch.setattr(tempfile, 'mkstemp', read_only)
    rc = demo.main(['--checkpoint', str(tiny_clip_path), '--device', 'cpu', '--out', str(tmp_path / 'out')])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == f'demo.py: error: cannot write to --out {tmp_path / "out"}: read-only file system'
    assert 'loading' not in err


def test_full_disk_while_writing_is_one_line_and_leaves_no_partial_file(tmp_path, tiny_clip_path, capsys,
                                                                       monkeypatch):
    """Issue 22, case 4: the demo's writes fail as on a full disk (the JSON, after both PNGs)."""
    import errno

    from sclip_toolkit import io_utils

    real = io_utils.atomic_write

    def full(path, data, encoding='utf-8'):
        def write(fh):
            fh.write(b'{"partial')
            raise OSError(errno.ENOSPC, 'No space left on device')
        io_utils.atomic_save(path, write)

    monkeypatch.setattr(io_utils, 'atomic_write', full)
    out = tmp_path / 'out'
    rc = demo.main(['--checkpoint', str(tiny_clip_path), '--device', 'cpu', '--out', str(out), '--quiet'])
    monkeypatch.setattr(io_utils, 'atomic_write', real)
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == (f'demo.py: error: could not write {out / "coffee_sclip.json"}: no space left '
                                       f'on the device')
    assert sorted(p.name for p in out.iterdir()) == ['coffee_sclip_labels.png', 'coffee_sclip_overlay.png']
    for png in out.iterdir():
        Image.open(png).load()  # complete files only


def test_json_records_the_vfm_weights_too(tmp_path, tiny_clip_path):
    from sclip_toolkit.testing import write_random_vfm

    vfm = write_random_vfm(tmp_path / 'dino_tiny.pth', 'dino')
    image = _picture(tmp_path / 'scene.png', 48, 64)
    rc = demo.main(['--image', str(image), '--classes', 'a; b', '--method', 'proxyclip', '--checkpoint',
                    str(tiny_clip_path), '--vfm-checkpoint', str(vfm), '--device', 'cpu', '--out', str(tmp_path),
                    '--quiet'] + FAST)
    assert rc == 0
    weights = json.loads((tmp_path / 'scene_proxyclip.json').read_text())['weights']
    assert [w['role'] for w in weights] == ['clip', 'vfm']
    assert weights[1]['path'] == str(vfm.resolve()) and weights[1]['fingerprint'] == file_fingerprint(vfm)


def test_list_methods(capsys):
    assert demo.main(['--list-methods']) == 0
    assert capsys.readouterr().out.split() == available_methods()


def test_api_words_become_command_line_words():
    assert demo.cli_words('use device="cpu"') == 'use --device cpu'
    assert demo.cli_words("or pass checkpoint=/path/to/ViT-B-16.pt.") == 'or pass --checkpoint /path/to/ViT-B-16.pt.'
    assert demo.cli_words('pass vfm_checkpoint=<file>') == 'pass --vfm-checkpoint <file>'
    assert demo.cli_words('model.clip.checkpoint=x stays') == 'model.clip.checkpoint=x stays'


@pytest.mark.parametrize('argv', [['--help'], ['--alpha', 'x']])
def test_help_and_argument_errors_import_nothing_heavy(argv):
    code = ('import runpy, sys, time; start = time.perf_counter(); sys.argv = ["demo.py"] + sys.argv[1:]\n'
            'try:\n    runpy.run_path("demo.py", run_name="__main__")\nexcept SystemExit:\n    pass\n'
            'print("HEAVY", sorted(m for m in ("torch", "numpy", "mmseg", "sclip_toolkit") if m in sys.modules), '
            'time.perf_counter() - start, file=sys.stderr)')
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-c', code] + argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    wall = time.perf_counter() - start
    heavy = proc.stderr.split('HEAVY')[-1].split()
    assert heavy[0] == '[]', proc.stderr  # no torch, numpy, mmseg or toolkit import
    assert float(heavy[1]) < 0.5 and wall < 2.0, (heavy, wall)  # the script itself, and with the interpreter start


@pytest.mark.slow
def test_missing_weights_fail_fast_with_instructions(tmp_path):
    env = dict(os.environ, SCLIP_CLIP_CACHE=str(tmp_path / 'empty'))
    proc = subprocess.run([sys.executable, 'demo.py', '--out', str(tmp_path / 'out'), '--device', 'cpu'], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert f"CLIP weights 'ViT-B-16' not found at {tmp_path / 'empty' / 'ViT-B-16.pt'}" in proc.stderr
    assert 'Download https://openaipublic.azureedge.net/clip/models/' in proc.stderr and '--checkpoint' in proc.stderr
    assert 'checkpoint=' not in proc.stderr  # command-line words, not the API's
    assert not (tmp_path / 'out').exists() or not any((tmp_path / 'out').iterdir())

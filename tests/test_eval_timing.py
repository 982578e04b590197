"""The evaluation-throughput and warm-start timings on a tiny random model (what tools/benchmark.py prints)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sclip_toolkit.bench.eval_timing import eval_throughput, warm_start, write_voc_layout

pytestmark = pytest.mark.slow  # each starts Python processes (eval.py, fresh interpreters)

# Short side 64 and one template keep a run to seconds; the crop fits the resized image.
TINY = ['model.text_encoder.templates=single', 'model.data_preprocessor.short_side=64',
        'model.inference.crop_size=32', 'model.inference.stride=16']


def test_voc_layout_is_what_the_voc_config_reads(tmp_path):
    root = tmp_path / 'VOCdevkit' / 'VOC2012'
    paths = write_voc_layout(root, num_images=3, size=(30, 40))
    stems = (root / 'ImageSets' / 'Segmentation' / 'val.txt').read_text().split()
    assert stems == [p.stem for p in paths] and len(set(stems)) == 3
    label = Image.open(root / 'SegmentationClass' / f'{stems[0]}.png')
    assert label.mode == 'P' and label.size == (40, 30)
    values = np.unique(np.asarray(label))
    assert values.max() == 255 and set(values[:-1]) <= set(range(21))
    assert Image.open(paths[0]).size == (40, 30)


def test_eval_throughput_reports_eval_and_bare_rates(tmp_path, tiny_clip_path, capsys):
    out = eval_throughput('sclip/sclip_voc21', str(tiny_clip_path), tmp_path, num_images=3, cfg_options=TINY,
                          dist=False)
    assert out['bare_s'] > 0 and out['bare_cpu_s'] > 0
    assert out['eval_1p_images_per_s'] > 0 and out['eval_1p_loop_s'] < out['eval_1p_process_s']
    printed = capsys.readouterr().out
    assert 'bare predict' in printed and 'eval.py, 1 process x' in printed and 'the bare rate' in printed


def test_warm_start_times_a_fresh_process(tmp_path, tiny_clip_path, capsys):
    out = warm_start(str(tiny_clip_path), tmp_path, repeats=1)
    assert 0 < out['build_cpu_s'] <= out['first_crop_cpu_s'] and out['import_cpu_s'] > 0
    assert (tmp_path / 'text_cache').is_dir()  # the first run filled it; the timed run read it
    assert "to the first crop's forward" in capsys.readouterr().out

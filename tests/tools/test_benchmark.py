"""tools/benchmark.py runs end to end on a tiny random model and reports every stage."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def benchmark():
    spec = importlib.util.spec_from_file_location('benchmark_tool', ROOT / 'tools' / 'benchmark.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_reports_every_stage(benchmark, capsys):
    res = benchmark.main(['--method', 'sclip', '--preset', 'tiny', '--image-size', '96x128', '--repeats', '1',
                          '--device', 'cpu', '--cfg-options', 'model.text_encoder.templates=single',
                          'model.inference.crop_size=64', 'model.inference.stride=32'])
    out = capsys.readouterr().out
    for key in ('weights_s', 'text_full_context_s', 'text_cold_s', 'text_warm_s', 'encode_one_crop_at_a_time_s',
                'encode_batched_s', 'postprocess_s', 'per_image_s', 'encoder_flops_per_s', 'matmul_flops_per_s',
                'peak_full_scores_bytes', 'peak_streaming_bytes'):
        assert res[key] >= 0, key
    assert res['matmul_flops_per_s'] > 0 and res['encoder_flops_per_s'] > 0
    for label in ('text, full 77-token context', 'text, warm (disk cache)', 'crops batched', 'images/s', 'GFLOP/s',
                  'peak memory'):
        assert label in out


def test_benchmark_runs_a_variant_that_reads_the_class_embeddings(benchmark, capsys):
    """ResCLIP's feedback needs the class embeddings in the encoder pass; the benchmark hands them over."""
    res = benchmark.main(['--method', 'resclip', '--dataset', 'ade20k', '--preset', 'tiny', '--image-size', '64x96',
                          '--repeats', '1', '--device', 'cpu', '--no-text', '--num-names', '5', '--cfg-options',
                          'model.text_encoder.templates=single', 'model.inference.crop_size=64',
                          'model.inference.stride=32'])
    assert res['per_image_s'] > 0 and 'images/s' in capsys.readouterr().out


def test_vit_flops_counts_the_encoder(benchmark, tiny_backbone):
    # 64x64 input, patch 16: 17 tokens of width 128 through 12 blocks
    t, d = 17, 128
    per_block = 2 * t * (4 * d * d + 8 * d * d) + 4 * t * t * d
    want = 2 * 16 * 3 * 16 * 16 * d + 12 * per_block + 2 * t * d * 32
    assert benchmark.vit_flops(tiny_backbone, 64, 64) == want


def test_benchmark_runs_a_method_with_a_head_that_needs_every_name(benchmark, capsys):
    """RF-CLIP: the head's per-image work is part of the encode time, and there is no streaming path to measure."""
    res = benchmark.main(['--method', 'rfclip', '--preset', 'tiny', '--image-size', '96x128', '--repeats', '1',
                          '--device', 'cpu', '--no-text', '--cfg-options', 'model.text_encoder.templates=single',
                          'model.clip.final_attn.sink_channels=[0,27,31,54,71,79,105,118]'])
    out = capsys.readouterr().out
    assert res['per_image_s'] > 0 and res['peak_full_scores_bytes'] > 0 and 'peak_streaming_bytes' not in res
    assert 'no streaming path: RFCLIPHead' in out


def test_stages_time_masks_vfm_clip_correlation_and_correction(benchmark, capsys, tmp_path):
    """--stages on tiny random models: CorrCLIP (file masks, found by the benchmark image's name) next to ProxyCLIP."""
    import numpy as np

    from sclip_toolkit.testing import write_random_vfm
    dino = write_random_vfm(tmp_path / 'dino.pth', 'dino')
    np.savez_compressed(tmp_path / 'bench_64x96.npz', instance_mask=np.repeat(np.arange(6), 1024).reshape(64, 96))
    rows = benchmark.main(['--method', 'corrclip', '--compare', 'proxyclip', '--stages', '--preset', 'tiny',
                           '--image-size', '64x96', '--device', 'cpu', '--vfm-checkpoint', str(dino),
                           '--cfg-options', 'model.text_encoder.templates=single', 'model.inference.crop_size=64',
                           'model.inference.stride=32',
                           'model.region_generator.type=PrecomputedMasks',
                           f'model.region_generator.folder={tmp_path}'])
    out = capsys.readouterr().out
    assert {'masks', 'masks_cached', 'vfm', 'clip', 'correlation', 'decode', 'correction', 'total'} <= set(
        rows['corrclip'])
    assert rows['proxyclip']['vfm'] > 0 and rows['corrclip']['correlation'] > 0
    assert all(v >= 0 for row in rows.values() for v in row.values())
    assert 'per-image seconds by stage' in out and 'corrclip' in out and 'proxyclip' in out


def test_stages_put_ovstitcher_next_to_corrclip_and_stitched_sclip_next_to_sclip(benchmark, capsys, tmp_path):
    """--stages with a precomputed region map: OV-Stitcher and CorrCLIP on the same windows, SCLIP per window and
    stitched ('+stitched'); the stitched CLIP time is 'clip', not 'correlation'."""
    from sclip_toolkit.testing import write_random_vfm
    dino = write_random_vfm(tmp_path / 'dino.pth', 'dino')
    rows = benchmark.main(['--method', 'ovstitcher', '--compare', 'corrclip', 'sclip', 'sclip+stitched', '--stages',
                           '--preset', 'tiny', '--image-size', '64x160', '--device', 'cpu', '--vfm-checkpoint',
                           str(dino), '--masks', 'precomputed', '--cfg-options', 'model.text_encoder.templates=single',
                           'model.inference.crop_size=64', 'model.inference.stride=32'])
    out = capsys.readouterr().out
    assert set(rows) == {'ovstitcher', 'corrclip', 'sclip', 'sclip+stitched'}
    for row in rows.values():
        assert row['clip'] > 0 and row['correlation'] > 0 and all(v >= 0 for v in row.values())
    assert rows['ovstitcher']['vfm'] > 0 and 'masks_cached' in rows['ovstitcher']
    assert 'sclip+stitched' in out and '4 windows' in out


def test_large_images_measures_the_api_on_a_wide_photo_with_many_classes(benchmark):
    """--large-images with an HxW size and more classes than ADE20K has: the API's peak is printed and stays under
    the bound given (the label path decodes rows and names in blocks). A fresh process, as a user runs it: RSS peaks
    in a long test session carry other tests' heap."""
    import re
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / 'tools' / 'benchmark.py'), '--large-images', '--preset', 'tiny',
                          '--no-demo', '--large-sizes', '100x700', '--large-classes', '200', '--max-memory', '64MB',
                          '--cfg-options', 'model.text_encoder.templates=single'],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = re.search(r'100x700,  200 classes: API peak (\d+) MiB \(labels only', out)
    assert found, out
    assert 0 < int(found.group(1)) < 64
    names = benchmark._large_vocabulary(900)  # ADE20K's 150, ADE20K-847's, then numbered
    assert len(names) == len(set(names)) == 900 and names[:3] == ['wall', 'building', 'sky']


def test_breakdown_times_every_stage_next_to_the_bare_encoders(benchmark, capsys):
    """--breakdown on the tiny model: NACLIP (whole image, PAMR) and ProxyCLIP (windows, a VFM); every stage of
    their path is timed, the stages add up to the run timed from outside, and PAMR's cost is split per name."""
    rows = benchmark.main(['--breakdown', '--methods', 'naclip', 'proxyclip', '--preset', 'tiny', '--image-sizes',
                           '48x64', '--repeats', '1', '--device', 'cpu', '--cfg-options',
                           'model.text_encoder.templates=single'])
    from sclip_toolkit.bench.breakdown import BREAKDOWN_STAGES
    out = capsys.readouterr().out
    naclip, proxy = rows[('naclip', '48x64')], rows[('proxyclip', '48x64')]
    common = {'load_resize', 'crops', 'clip', 'logits_upsample', 'softmax_thresholds', 'copy_out'}
    assert common | {'pamr'} <= set(naclip) and 'vfm' not in naclip
    assert common | {'vfm', 'window_avg'} <= set(proxy) and 'pamr' not in proxy
    for row in (naclip, proxy):
        assert all(row[k] >= 0 for k in common)
        assert row['bare_s'] > 0 and abs(row['ratio'] - row['full_s'] / row['bare_s']) < 1e-9
        rest = sum(row[k] for k in BREAKDOWN_STAGES if k in row and k not in ('masks', 'clip', 'vfm'))
        assert abs(row['rest_s'] - rest) < 1e-9 and row['ratio_rest'] >= 1
        # the hooks' own cost is the only gap between the sum of the stages and the outside timing
        assert abs(row['full_s'] - row['measured_s']) <= 0.05 * row['measured_s'] + 0.02, row
    assert naclip['pamr'] > 0 and proxy['vfm'] > 0
    assert naclip['pamr_names'] == 56 and naclip['pamr_per_name_step_s'] > 0
    assert 'per name per step' in out and 'largest stages besides the encoders' in out


def test_precision_compare_prints_speedup_and_agreement_per_method(benchmark, capsys):
    rows = benchmark.main(['--precision-compare', 'sclip', 'clearclip', '--preset', 'tiny', '--image-size', '64x96',
                           '--repeats', '1', '--device', 'cpu', '--random-attn-gain', '1',
                           '--cfg-options', 'model.text_encoder.templates=single'])
    out = capsys.readouterr().out
    assert list(rows) == ['sclip', 'clearclip']
    for row in rows.values():
        assert row['fp32_cpu_s'] > 0 and row['bf16_cpu_s'] > 0 and 0.5 < row['agreement'] <= 1.0
    assert 'bf16 CPU s' in out and 'agreement' in out and 'fp32, input rounded' in out
    assert out.count('equal labels') == 2


def test_large_image_options_are_checked(benchmark):
    assert benchmark._large_sizes('4000,1500x12000') == [(4000, 4000), (1500, 12000)]
    assert benchmark._positive_ints('3,150') == [3, 150]
    for bad in ('40x', 'abc', '0', '10x-5', ''):
        with pytest.raises(benchmark.argparse.ArgumentTypeError, match='separated by commas'):
            benchmark._large_sizes(bad)
    with pytest.raises(SystemExit):
        benchmark.main(['--large-images', '--large-classes', 'x'])

"""OV-Stitcher: configs, class-biased prompts, the reference quirks' options, and parity with the reference.

tests/data/crosscheck_ovstitcher/ holds OV-Stitcher's own outputs (atw617/OV-Stitcher@91a9489 on CorrCLIP's
CorrCLIPv1 folder) on ../shared/parity's mini CLIP and mini DINO, CPU, fp32, with precomputed masks, for the VOC21
and Cityscapes configs (cases.json says how they were made). Tolerance 1e-5: one token landing in another region
moves the scores by 1e-5 to 1e-4 on these random weights, which the looser 1e-4 used elsewhere would hide.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sclip_toolkit.config import load_config
from sclip_toolkit.models.text.extras import load_extra_prompts

from ..conftest import parity_fixture

DATA = Path(__file__).resolve().parents[1] / 'data' / 'crosscheck_ovstitcher'
CASES = json.loads((DATA / 'cases.json').read_text())
ATOL, MIN_AGREE = CASES['tolerance']['seg_logits_max_abs'], CASES['tolerance']['argmax_agreement_min']
CONFIGS = {'voc21': 'configs/ovstitcher/ovstitcher_voc21.py', 'city_scapes': 'configs/ovstitcher/ovstitcher_cityscapes.py'}


def _sub_grid(n: int, stride: int = 8) -> list:
    return sorted(set(range(0, n, stride)) | {n - 1})


def _image(case, folder: Path) -> Path:
    """The case's image, rebuilt from its recipe (cases.json 'about')."""
    h, w, seed = case['height'], case['width'], case['seed']
    if case['kind'] == 'random':
        rgb = np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8)
    else:
        ids = np.load(DATA / case['region_mask_file'])['instance_mask']
        colours = {0: (128, 128, 128), 7: (220, 30, 30), 23: (30, 200, 40), 41: (30, 40, 210), 58: (220, 30, 30),
                   90: (240, 240, 20)}
        rgb = np.zeros((h, w, 3), np.float64)
        for k, c in colours.items():
            rgb[ids == k] = c
        rgb = np.clip(rgb + np.random.RandomState(seed).normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)
    path = folder / f'{case["stem"]}.png'  # the stem finds the precomputed masks
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return path


# ---------------------------------------------------------------------------------------------- configs
def test_configs_carry_the_reference_settings():
    from sclip_toolkit.methods import available_methods
    assert 'ovstitcher' in available_methods()
    thresholds = {'voc21': 0.1, 'context60': 0.1, 'coco_object': 0.2}
    for dataset in ('voc21', 'voc20', 'context60', 'context59', 'coco_object', 'coco_stuff164k', 'cityscapes',
                    'ade20k', 'context459', 'ade847', 'coco_stuff10k'):
        for prefix in ('ovstitcher', 'ovstitcher_vitl14'):
            model = load_config(f'configs/ovstitcher/{prefix}_{dataset}.py').model
            steps = [s['type'] for s in model.post_process]
            assert steps[-1] == 'RegionVote' and ('ProbThreshold' in steps) == (dataset in thresholds), dataset
            if dataset in thresholds:
                assert model.post_process[0]['threshold'] == thresholds[dataset]
            short, crop = (560, 224) if dataset == 'cityscapes' else (448, 336)
            stride = 224 if dataset.startswith('coco_stuff') else 112
            inference = model.inference
            assert (model.data_preprocessor.short_side, inference.crop_size, inference.stride) == (short, crop, stride)
            assert inference.type == 'StitchedInference' and inference.pad_multiple == 56
            assert inference.resize == 'via_input'
            assert (model.clip.name, model.clip.pretrained) == ('ViT-L/14' if 'vitl14' in prefix else 'ViT-B/16',
                                                                 'openai')
            assert model.clip.final_attn.type == 'OVStitcherAttention'
            assert model.clip.final_attn.spatial_attention == 'single_head'
            assert (model.clip.vfm.output, model.clip.vfm.block_residual, model.clip.vfm.patch_size) == \
                ('block', 'final_norm', 8)
            assert model.region_generator.type == 'OVStitcherSAM2Masks'
            assert model.text_encoder.extra_prompts == 'ovstitcher_class_biased'
    for dataset in ('context459', 'ade847', 'coco_stuff10k'):  # defaults, said so in the header
        assert 'NOT shipped by the reference' in Path(f'configs/ovstitcher/ovstitcher_{dataset}.py').read_text()


def test_sam2_generator_has_the_references_settings():
    from sclip_toolkit.models.regions import OVStitcherSAM2Masks
    gen = OVStitcherSAM2Masks(size='tiny', model=torch.nn.Linear(2, 2))
    options = gen.options
    assert (options['points_per_side'], options['pred_iou_thresh'], options['stability_score_thresh']) == \
        (64, 0.7, 0.7)
    assert not options['multimask_output'] and (gen.size, gen.version) == ('tiny', '2.0')
    assert OVStitcherSAM2Masks().size == 'large'  # SAM 2.0 hiera-large, as the reference


# ---------------------------------------------------------------------------------------------- prompts
def test_class_biased_prompts_ship_with_their_licence_and_are_the_references():
    import hashlib
    path = Path('prompts/ovstitcher_class_biased.json')
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith('2ecb570ce85d5609')
    assert 'MIT License' in Path('prompts/ovstitcher_class_biased.LICENSE.md').read_text()
    data = load_extra_prompts('ovstitcher_class_biased')
    assert len(data) == 309 and sum(len(v) for v in data.values()) == 4625
    with pytest.raises(Exception, match='unknown extra-prompt set'):
        load_extra_prompts('no_such_set')
    with pytest.raises(Exception, match='JSON object'):
        load_extra_prompts({'cat': 'a string, not a list'})


def test_a_name_with_sentences_averages_templates_and_sentences_as_the_reference(tiny_backbone):
    """Every prompt's unit-norm embedding, the mean over the templates and the sentences, renormalised; a name
    that is not a key keeps its template embedding."""
    from sclip_toolkit.models.text import encode_prompts
    from sclip_toolkit.models.text import CLIPTextClassifier
    templates = ['a photo of a {}.', 'a {} in the scene.']
    extras = {'cat': ['a small furry animal', 'a pet with whiskers', 'it purrs']}
    plain = CLIPTextClassifier([['cat'], ['dog']], templates=templates, cache=False)(tiny_backbone)
    biased = CLIPTextClassifier([['cat'], ['dog']], templates=templates, cache=False,
                                extra_prompts=extras)(tiny_backbone)
    tokens = tiny_backbone.tokenizer()([t.format('cat') for t in templates] + extras['cat'])
    emb = encode_prompts(tiny_backbone, tokens)
    emb = (emb / emb.norm(dim=-1, keepdim=True)).mean(dim=0)
    torch.testing.assert_close(biased.names[0], emb / emb.norm(), atol=1e-5, rtol=0)
    torch.testing.assert_close(biased.names[1], plain.names[1])
    assert (biased.names[0] - plain.names[0]).abs().max() > 1e-3


# ---------------------------------------------------------------------------------------------- parity
def test_fixture_files_match_their_description():
    import hashlib
    for name, digest in CASES['file_sha256'].items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name
    for case in CASES['cases']:
        ref = np.load(DATA / case['files'][0])
        assert ref.shape == (case['classes'], len(_sub_grid(case['height'])), len(_sub_grid(case['width'])))
    assert {c['config'] for c in CASES['cases']} == {'voc21', 'city_scapes'}


@pytest.fixture(scope='module')
def segmentors():
    from sclip_toolkit.apis import build_segmentor
    cache = {}

    def get(config: str):
        if config not in cache:
            cfg = load_config(CONFIGS[config], checkpoint=str(parity_fixture('mini_clip.pt')),
                              vfm_checkpoint=str(parity_fixture('mini_vfm_dino_vitt8.pt')),
                              cfg_options={'model.region_generator.type': 'PrecomputedMasks',
                                           'model.region_generator.folder': str(DATA / 'region_masks')})
            cfg.model.keep_scores = True
            cache[config] = (cfg, build_segmentor(cfg, 'cpu'))
        return cache[config]
    return get


# ~2-5 min per case on 2 busy cores (text: 46 names x 80 templates + class-biased sentences once)
@pytest.mark.slow
@pytest.mark.parametrize('case', CASES['cases'], ids=lambda c: f'{c["config"]}-{c["stem"]}')
def test_precomputed_masks_match_reference(case, segmentors, tmp_path):
    from sclip_toolkit.apis import run_segmentor
    cfg, model = segmentors(case['config'])
    sample = run_segmentor(model, cfg, [str(_image(case, tmp_path))])[0]
    h, w = case['height'], case['width']
    ours = sample.seg_logits.data.numpy()[:, _sub_grid(h)][:, :, _sub_grid(w)]
    ref = np.load(DATA / case['files'][0])
    diff = np.abs(ours.astype(np.float64) - ref)
    assert diff.max() <= ATOL, f'max |diff| {diff.max():.3g} at {np.unravel_index(diff.argmax(), diff.shape)}'
    assert (ours.argmax(0) == ref.argmax(0)).mean() >= MIN_AGREE
    pred = np.load(DATA / case['files'][1])['pred']
    assert (sample.pred_sem_seg.data[0].numpy() == pred).mean() >= MIN_AGREE


# ---------------------------------------------------------------------------------------------- memory
def test_scope_attention_in_row_chunks_equals_the_whole_matrix():
    """Beyond the memory limit the scope attention is computed in row chunks: the same values."""
    import torch.nn.functional as F

    from sclip_toolkit.models.attention.corrclip_stitched import scope_attention
    from sclip_toolkit.models.attention.chunks import attend_in_chunks
    g = torch.Generator().manual_seed(0)
    cells = F.normalize(torch.randn(300, 16, generator=g), dim=-1)
    ids = torch.randint(0, 4, (300,), generator=g) * 5
    values = [torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g)]
    whole = scope_attention(cells, ids, 4.0, values)
    chunked = scope_attention(cells, ids, 4.0, values, max_bytes=300 * 4 * 4 * 37)  # 37 rows at a time
    for a, b in zip(whole, chunked):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    q, k, v = (torch.randn(1, 1, 300, 8, generator=g) for _ in range(3))
    torch.testing.assert_close(attend_in_chunks(q, k, v, 0.3, max_bytes=300 * 4 * 50),
                               F.scaled_dot_product_attention(q, k, v, scale=0.3), atol=1e-6, rtol=1e-5)

"""Trident's parts: the resize, the splice, SAM's affinity, the SAM refinement, configs, options, batches, the cache.

Parity with the reference (tests/data/crosscheck_trident/) is in test_trident_crosscheck.py.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sclip_toolkit.models.attention.proxy import proxy_attention_weights
from sclip_toolkit.models.postprocess.sam_refine import SAMRefinement, class_regions
from sclip_toolkit.models.inference.spliced import splice_windows, trident_resize
from sclip_toolkit.models.vfm.sam_affinity import SAMAffinity, encode_affinity, trident_affinity
from sclip_toolkit.models.vfm.sam_model import sam_input

ROOT = Path(__file__).resolve().parents[2]


def tiny_sam(seed: int = 0, img_size: int = 128) -> nn.Module:
    """A small SAM (segment-anything's modules): 2 blocks (windowed, then global), random position tables."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    torch.manual_seed(seed)
    grid = img_size // 16
    encoder = ImageEncoderViT(img_size=img_size, patch_size=16, embed_dim=64, depth=2, num_heads=2, mlp_ratio=4,
                              out_chans=32, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
                              use_rel_pos=True, global_attn_indexes=(1,), window_size=3)
    prompt = PromptEncoder(embed_dim=32, image_embedding_size=(grid, grid), input_image_size=(img_size, img_size),
                           mask_in_chans=8)
    decoder = MaskDecoder(num_multimask_outputs=3, transformer_dim=32, iou_head_depth=2, iou_head_hidden_dim=32,
                          transformer=TwoWayTransformer(depth=2, embedding_dim=32, mlp_dim=64, num_heads=2))
    sam = Sam(encoder, prompt, decoder)
    with torch.no_grad():
        for name, param in sam.named_parameters():
            if 'pos_embed' in name or 'rel_pos' in name:
                param.normal_(0, 0.5)
            elif name.endswith('attn.qkv.weight'):
                param.mul_(3.0)
    return sam.eval()


# ---------------------------------------------------------------------------------------------- resize, splice
def test_trident_resize_to_patch_multiples_and_at_least_one_crop():
    x = torch.zeros(1, 3, 448, 597)
    assert trident_resize(x, 16, 336).shape[-2:] == (464, 608)  # longer side up to 608, the other follows + rounds
    assert trident_resize(torch.zeros(1, 3, 448, 1045), 16, 336).shape[-2:] == (464, 1056)
    assert trident_resize(torch.zeros(1, 3, 100, 50), 16, 336).shape[-2:] == (336, 336)
    assert trident_resize(torch.zeros(1, 3, 448, 597), 14, 336).shape[-2:] == (462, 602)
    same = torch.randn(1, 3, 320, 160)
    assert trident_resize(same, 16, 336) is same  # on the grid already: untouched (the reference's early return)


def test_splice_averages_overlaps_and_refuses_gaps():
    maps = torch.stack([torch.full((2, 2, 3), 1.0), torch.full((2, 2, 3), 3.0)])
    out = splice_windows(maps, [(0, 2, 0, 3), (0, 2, 2, 5)], (2, 5))
    assert out.shape == (1, 2, 2, 5)
    assert out[0, 0, 0].tolist() == [1.0, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError, match='uncovered'):
        splice_windows(maps, [(0, 2, 0, 3), (0, 2, 3, 6)], (2, 7))


# ---------------------------------------------------------------------------------------------- SAM affinity
def _oracle_affinity(attn, v, cos_fac, refine_neg_cos):
    """Trident's get_sam_sim written out for one image: attn (heads, M, M), v (heads, M, d)."""
    v = F.normalize(v, dim=-1)
    sim = torch.einsum('hmc,hnc->hmn', v, v)
    thresh = cos_fac * sim.mean(dim=0, keepdim=True).mean(dim=-1, keepdim=True)
    if not refine_neg_cos:
        thresh = torch.where(thresh < 0, torch.full_like(thresh, 0.6), thresh)
    thresh = thresh.clamp(max=0.9)
    kept = torch.where(sim > thresh, attn, torch.zeros_like(attn)).mean(0)
    return kept / kept.sum(-1, keepdim=True)


@pytest.mark.parametrize('refine_neg_cos', [True, False])
def test_affinity_rows_match_the_formula(refine_neg_cos):
    gen = torch.Generator().manual_seed(0)
    attn = torch.rand(3, 10, 10, generator=gen).softmax(-1)
    v = torch.randn(3, 10, 4, generator=gen) - (0.0 if refine_neg_cos else 0.3)
    want = _oracle_affinity(attn, v, 1.2, refine_neg_cos)
    got = torch.cat([trident_affinity(attn[:, r:r + 3], F.normalize(v, dim=-1), slice(r, r + 3), 1.2, refine_neg_cos)
                     for r in range(0, 10, 3)])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-7)
    assert torch.allclose(got.sum(-1), torch.ones(10))


def test_chunked_last_block_equals_sams_encoder():
    sam = tiny_sam()
    rgb = np.random.RandomState(0).randint(0, 256, (70, 100, 3), dtype=np.uint8)
    x = sam_input(rgb, 128)
    assert x.input_size == (90, 128) and x.original_size == (70, 100)
    captured = {}
    last = sam.image_encoder.blocks[-1].attn

    def keep(module, args, out):  # the attention SAM computes, from its own modules
        t = args[0]
        b, h, w, _ = t.shape
        qkv = module.qkv(t).reshape(b, h * w, 3, module.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * module.num_heads, h * w, -1).unbind(0)
        from segment_anything.modeling.image_encoder import add_decomposed_rel_pos
        a = add_decomposed_rel_pos((q * module.scale) @ k.transpose(-2, -1), q, module.rel_pos_h, module.rel_pos_w,
                                   (h, w), (h, w)).softmax(-1)
        captured.update(attn=a, v=v.view(module.num_heads, h, w, -1))

    handle = last.register_forward_hook(keep)
    with torch.no_grad():
        want_emb = sam.image_encoder(x.pixels)
    handle.remove()
    weights, (vh, vw), emb = encode_affinity(sam.image_encoder, x, 16, 1.2, True, embedding=True, row_chunk=3)
    assert (vh, vw) == (5, 8)
    torch.testing.assert_close(emb, want_emb, rtol=1e-5, atol=1e-5)
    a = captured['attn'].view(2, 8, 8, 8, 8)[:, :vh, :vw, :vh, :vw].reshape(2, vh * vw, vh * vw)
    want = _oracle_affinity(a, captured['v'][:, :vh, :vw].flatten(1, 2), 1.2, True)
    torch.testing.assert_close(weights, want, rtol=1e-5, atol=1e-6)


def test_position_tables_change_the_affinity():
    sam = tiny_sam()
    x = sam_input(np.random.RandomState(1).randint(0, 256, (128, 128, 3), dtype=np.uint8), 128)
    before = encode_affinity(sam.image_encoder, x, 16, 1.2, True)[0]
    with torch.no_grad():
        sam.image_encoder.blocks[-1].attn.rel_pos_h.normal_(0, 0.5)  # (a constant would cancel in the softmax)
    assert (encode_affinity(sam.image_encoder, x, 16, 1.2, True)[0] - before).abs().max() > 1e-3


def test_disk_cache_skips_the_encoder_the_second_time(tmp_path, monkeypatch):
    sam = tiny_sam()
    rgb = np.random.RandomState(2).randint(0, 256, (64, 96, 3), dtype=np.uint8)
    source = SAMAffinity(model=sam, cache_dir=tmp_path, embedding=True)
    first = source(rgb)
    assert len(list(tmp_path.glob('SAMAffinity-*/*.pt'))) == 1

    def fail(*args):
        raise AssertionError('the encoder ran although the encoding is cached')

    monkeypatch.setattr(source, 'compute', fail)
    second = source(rgb)
    assert torch.equal(first.weights[0], second.weights[0]) and torch.equal(first.embedding, second.embedding)
    other = SAMAffinity(model=sam, cache_dir=tmp_path, cos_fac=2.0)  # another setting: another key
    assert other.cache_path(rgb).parent != source.cache_path(rgb).parent


def test_halves_encode_left_and_right_separately():
    sam = tiny_sam()
    rgb = np.random.RandomState(3).randint(0, 256, (64, 128, 3), dtype=np.uint8)
    enc = SAMAffinity(model=sam, halves=True)(rgb)
    left = SAMAffinity(model=sam)(np.ascontiguousarray(rgb[:, :64]))
    assert len(enc.weights) == 2 and enc.grids[0] == left.grids[0]
    torch.testing.assert_close(enc.weights[0], left.weights[0])


# ---------------------------------------------------------------------------------------------- proxy attention
def test_proxy_mean_over_batch_differs_from_per_image():
    feats = torch.randn(3, 8, 4, 4, generator=torch.Generator().manual_seed(0))
    one = proxy_attention_weights(feats[:1], mean_over='batch')
    torch.testing.assert_close(one, proxy_attention_weights(feats[:1]))
    assert not torch.allclose(proxy_attention_weights(feats, mean_over='batch'), proxy_attention_weights(feats))


# ---------------------------------------------------------------------------------------------- refinement
def test_class_regions_eight_connected_with_boxes_and_peaks():
    mask = np.zeros((8, 10), bool)
    mask[1:3, 1:3] = True
    mask[3, 3] = True  # diagonal neighbour: same region under 8-connectivity
    mask[6:8, 6:10] = True
    scores = torch.zeros(8, 10)
    scores[7, 8] = 0.9
    masks, boxes, points = class_regions(mask, scores, minimal_area=2)
    assert len(masks) == 2 and masks[0].sum() == 5
    assert boxes.tolist() == [[1, 1, 3, 3], [6, 6, 9, 7]]  # x1, y1, x2, y2 inclusive
    assert points[1].tolist() == [8, 7]
    assert len(class_regions(mask, scores, minimal_area=6)[0]) == 1


def test_refinement_disabled_loads_nothing_and_changes_nothing():
    step = SAMRefinement(enabled=False, checkpoint='/nonexistent.pth')
    assert not hasattr(step, 'mask_decoder')
    step(None, None)


def test_refinement_needs_the_sam_embedding():
    from sclip_toolkit.exceptions import ConfigError
    from sclip_toolkit.models.postprocess import StepContext
    from sclip_toolkit.models.scoring import DenseScores
    step = SAMRefinement(model=tiny_sam())
    with pytest.raises(ConfigError, match='embedding'):
        step(DenseScores(torch.rand(3, 8, 8)), StepContext(image=torch.zeros(1, 3, 8, 8), ori_shape=(8, 8)))


# ---------------------------------------------------------------------------------------------- configs, options
DATASETS = ['voc21', 'voc20', 'context60', 'context59', 'context459', 'coco_object', 'coco_stuff164k', 'cityscapes',
            'ade20k', 'ade847']
# the reference's configs/cfg_<dataset>.py: (short side, prob_thd, coarse_thresh, stride, cos_fac, refine_neg_cos,
# halves)
REFERENCE = {'voc21': (448, 0.2, 0.2, 224, 1.2, True, False), 'voc20': (336, 0.0, 0.2, 112, 0.0, True, False),
             'context60': (576, 0.15, 0.15, 224, 1.2, True, False),
             'context59': (576, 0.0, 0.15, 224, 1.2, True, False),
             'context459': (448, 0.0, 0.2, 224, 1.2, True, False),
             'coco_object': (448, 0.25, 0.25, 224, 1.2, True, False),
             'coco_stuff164k': (448, 0.0, 0.05, 224, 1.2, True, False),
             'cityscapes': (688, 0.0, 0.1, 224, 3.0, False, True), 'ade20k': (576, 0.0, 0.05, 224, 1.2, False, False),
             'ade847': (448, 0.0, 0.2, 224, 1.2, True, False)}


@pytest.mark.parametrize('dataset', DATASETS)
def test_configs_carry_the_reference_settings(dataset):
    from sclip_toolkit.config import load_config
    cfg = load_config(str(ROOT / f'configs/trident/trident_{dataset}.py'))
    short, prob, coarse, stride, cos_fac, neg, halves = REFERENCE[dataset]
    m = cfg.model
    assert m.data_preprocessor.short_side == short and m.logit_scale == 40
    assert (m.inference.crop_size, m.inference.stride) == (336, stride)
    aff = m.inference.affinity
    assert (aff.model_type, aff.cos_fac, aff.refine_neg_cos, aff.get('halves', False)) == ('vit_b', cos_fac, neg,
                                                                                            halves)
    assert m.clip.final_attn == dict(type='ProxyAttention', beta=1.2, gamma=3.0, mean_over='batch')
    assert (m.clip.vfm.family, m.clip.vfm.arch, m.clip.vfm.patch_size) == ('dino', 'vit_base', 16)
    steps = {s.type: s for s in m.post_process}
    assert steps.get('ProbThreshold', {}).get('threshold', 0.0) == prob
    refine = steps['SAMRefinement']
    assert (refine.enabled, refine.coarse_thresh, refine.minimal_area, refine.iou_thresh) == (False, coarse, 225, 0.8)
    assert (ROOT / m.text_encoder.class_names).is_file()


def test_vith14_configs_use_open_clip_laion():
    from sclip_toolkit.config import load_config
    names = sorted(p.stem for p in (ROOT / 'configs/trident').glob('trident_vith14_*.py'))
    assert len(names) == 8
    cfg = load_config(str(ROOT / 'configs/trident/trident_vith14_voc21.py'))
    assert (cfg.model.clip.name, cfg.model.clip.pretrained) == ('ViT-H-14', 'laion2b_s32b_b79k')


def test_sam_options_set_every_sam_part_and_refuse_other_configs():
    from sclip_toolkit.config import load_config
    from sclip_toolkit.exceptions import ConfigError
    cfg = load_config(str(ROOT / 'configs/trident/trident_voc21.py'), sam_checkpoint='/w/sam.pth', sam_refine=True)
    assert cfg.model.inference.affinity.checkpoint == '/w/sam.pth'
    assert cfg.model.post_process[-1].checkpoint == '/w/sam.pth' and cfg.model.post_process[-1].enabled
    with pytest.raises(ConfigError, match='uses no SAM'):
        load_config(str(ROOT / 'configs/proxyclip/proxyclip_voc21.py'), sam_checkpoint='/w/sam.pth')


def test_missing_sam_weights_say_where_they_go(monkeypatch, tmp_path):
    from sclip_toolkit.models.checkpoint import CheckpointError
    from sclip_toolkit.models.vfm.sam_model import sam_weights_path
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(CheckpointError, match=r'sam_vit_b_01ec64\.pth.*--sam-checkpoint'):
        sam_weights_path('vit_b', None, download=False)
    with pytest.raises(CheckpointError, match='does not exist'):
        sam_weights_path('vit_b', str(tmp_path / 'none.pth'))
    with pytest.raises(ValueError, match='unknown SAM model type'):
        sam_weights_path('vit_x', None)


# ---------------------------------------------------------------------------------------------- whole model
@pytest.fixture(scope='module')
def tiny_trident(tmp_path_factory):
    from sclip_toolkit.apis import build_segmentor
    from sclip_toolkit.config import load_config
    from sclip_toolkit.testing import write_random_clip, write_random_vfm
    folder = tmp_path_factory.mktemp('trident')
    clip = write_random_clip(folder / 'clip.pt')
    dino = write_random_vfm(folder / 'dino.pt', 'dino', patch_size=16)
    cfg = load_config(str(ROOT / 'configs/trident/trident_voc21.py'), checkpoint=str(clip), vfm_checkpoint=str(dino),
                      sam_refine=True, cfg_options={'model.inference.crop_size': 64, 'model.inference.stride': 32})
    cfg.model.keep_scores = True
    sam = tiny_sam()
    cfg.model.inference.affinity.model = sam
    cfg.model.post_process[-1].model = sam
    cfg.model.post_process[-1].iou_thresh = -10.0  # random weights: let every mask pass
    cfg.model.post_process[0].threshold = 0.0
    return build_segmentor(cfg, 'cpu')


def test_batches_give_each_image_its_single_image_result(tiny_trident):
    from mmseg.structures import SegDataSample
    torch.manual_seed(0)
    images = torch.randn(3, 3, 80, 96)
    single = [tiny_trident.predict(images[i:i + 1])[0] for i in range(3)]
    batch = tiny_trident.predict(images)
    for one, many in zip(single, batch):
        assert torch.equal(one.pred_sem_seg.data, many.pred_sem_seg.data)
        torch.testing.assert_close(one.seg_logits.data, many.seg_logits.data, rtol=0, atol=1e-6)
    assert isinstance(batch[0], SegDataSample)

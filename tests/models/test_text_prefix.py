"""Shared-prefix text encoding equals encoding every prompt whole, for every shipped vocabulary and template set."""
from __future__ import annotations

import copy

import pytest
import torch

from sclip_toolkit.models.text import PROJECT_ROOT, encode_prompts, flatten_names, load_templates, parse_class_names
from sclip_toolkit.models.text.shared_prefix import (build_text_classifier_shared_prefix, encode_plan, plan_prompts,
                                              supports_prefix_cache)

from ..conftest import parity_fixture

VOCABULARIES = sorted(p.name for p in (PROJECT_ROOT / 'configs' / 'classnames').glob('*.txt'))
TEMPLATE_SETS = sorted(p.stem for p in (PROJECT_ROOT / 'prompts').glob('*.txt'))
# Placeholder not at a word boundary ('a{}' merges with the name), at the start, twice, and mid-sentence.
ODD_TEMPLATES = ['a photo of a{}', '{} in the wild.', 'a {} next to another {}.', 'itap of my {}s', 'a {}-like thing']


def _names(vocabulary: str):
    sep = '; ' if '__proxyclip' in vocabulary else ',' if '__clearclip' in vocabulary else ', '
    classes = parse_class_names(f'configs/classnames/{vocabulary}', sep, allow_duplicates=True)
    return flatten_names(classes)[0]


def _subset(names, count: int = 4):
    """The first names and the ones with the most characters (multi-token names, commas, spaces)."""
    longest = sorted(names, key=len, reverse=True)[:count // 2]
    return list(dict.fromkeys(names[:count - len(longest)] + longest))


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def _check_every_prompt(clip, names, templates, classifier: bool = True):
    """Per-prompt embeddings (and class embeddings) agree with whole-prompt encoding within 1e-5."""
    plan = plan_prompts(clip.tokenizer(), names, templates)
    whole = _unit(encode_prompts(clip, plan.tokens))
    torch.testing.assert_close(_unit(encode_plan(clip, plan)), whole, atol=1e-5, rtol=0)
    if classifier:
        want = _unit(whole.view(len(names), len(templates), -1).mean(dim=1))  # build_text_classifier's contract
        got = build_text_classifier_shared_prefix(clip, names, templates)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    return plan


@pytest.fixture(scope='module')
def mini_clip():
    from sclip_toolkit.models import CLIPBackbone
    return CLIPBackbone(checkpoint=str(parity_fixture('mini_clip.pt')), final_attn='vanilla')


@pytest.fixture(params=['tiny', 'mini'])
def clip(request, tiny_backbone):
    return tiny_backbone if request.param == 'tiny' else request.getfixturevalue('mini_clip')


@pytest.mark.parametrize('vocabulary', VOCABULARIES)
def test_subset_of_every_vocabulary_matches_whole_prompts(clip, vocabulary):
    templates = [t for s in TEMPLATE_SETS for t in load_templates(s)[:3]] + ODD_TEMPLATES[:3]
    plan = _check_every_prompt(clip, _subset(_names(vocabulary)), templates, classifier=False)
    assert plan.shared.float().mean() > 0.75  # most prompts take the fast path


@pytest.mark.slow
@pytest.mark.parametrize('template_set', TEMPLATE_SETS)
@pytest.mark.parametrize('vocabulary', VOCABULARIES)
def test_every_vocabulary_and_template_set_matches_whole_prompts(tiny_backbone, vocabulary, template_set):
    """Every name of every shipped vocabulary with every template (the tiny text tower: the tokenizer and the plan
    are what can differ per prompt; the mini CLIP is checked on subsets above)."""
    _check_every_prompt(tiny_backbone, _names(vocabulary), load_templates(template_set))


def test_names_merging_with_the_prefix_fall_back_to_whole_prompts(tiny_backbone):
    names, templates = ['n', 'cat', 'motorbike'], ['a photo of a{}', 'a photo of a {}.', '{}']
    plan = _check_every_prompt(tiny_backbone, names, templates)
    # 'a' + 'n' tokenizes as 'an': that prompt cannot reuse the prefix '<sot> a photo of a'
    shared = plan.shared.view(3, 3)
    assert not shared[0, 0] and shared[:, 1:].all()
    assert plan.prefix_len.tolist() == [5, 5, 1]


def test_token_counts_report_the_saving(tiny_backbone):
    plan = plan_prompts(tiny_backbone.tokenizer(), ['cat', 'dog'], ['a photo of a {}.', 'a bad photo of the {}.'])
    full, own, shared = plan.token_counts()
    # prompts: 8 and 9 tokens with <sot>/<eot>; prefixes 5 and 6 tokens, run once; the rest is '<name> . <eot>'
    assert (full, own, shared) == (4 * 77, 2 * (8 + 9), 5 + 6 + 4 * 3)


def test_layer_scale_is_applied(tiny_backbone):
    from open_clip.transformer import LayerScale
    clip = copy.deepcopy(tiny_backbone)
    torch.manual_seed(0)
    for block in clip.model.transformer.resblocks:
        block.ls_1, block.ls_2 = LayerScale(block.ln_1.weight.numel()), LayerScale(block.ln_1.weight.numel())
        block.ls_1.gamma.data.uniform_(0.5, 2.0)
        block.ls_2.gamma.data.uniform_(0.5, 2.0)
    plain = build_text_classifier_shared_prefix(tiny_backbone, ['cat'], ['a photo of a {}.'])
    scaled = _check_every_prompt(clip, ['cat', 'traffic light'], ['a photo of a {}.', 'itap of the {}'])
    assert scaled.shared.all()
    assert not torch.allclose(plain, build_text_classifier_shared_prefix(clip, ['cat'], ['a photo of a {}.']))


def test_custom_text_tower_uses_the_existing_path(tiny_backbone, monkeypatch):
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg, CustomTextCLIP

    import sclip_toolkit.models.text.prompts as text_module
    clip = copy.deepcopy(tiny_backbone)
    clip.model = CustomTextCLIP(32, CLIPVisionCfg(image_size=64, patch_size=16, width=64, layers=1, head_width=64),
                                CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1)).eval()
    assert not supports_prefix_cache(clip.model) and supports_prefix_cache(tiny_backbone.model)
    calls = []
    monkeypatch.setattr(text_module, 'build_text_classifier', lambda *args: calls.append(args) or torch.zeros(2, 32))
    names, templates = ['cat', 'dog'], ['a photo of a {}.', 'a {}']
    assert build_text_classifier_shared_prefix(clip, names, templates, 7).shape == (2, 32)
    assert calls == [(clip, names, templates, 7)]


def test_prefix_longer_than_the_context_is_truncated_like_the_tokenizer(tiny_backbone):
    long_template = 'a ' * 80 + 'photo of a {}.'
    _check_every_prompt(tiny_backbone, ['cat', 'dog'], [long_template, 'a photo of a {}.'])


def test_shipped_files_exist():
    assert len(VOCABULARIES) >= 16 and {'openai_imagenet_80', 'single'} <= set(TEMPLATE_SETS)


def test_template_without_placeholder_is_the_prompt_itself(tiny_backbone):
    plan = _check_every_prompt(tiny_backbone, ['cat', 'dog'], ['a photo', 'a photo of a {}.'])
    assert plan.shared.all() and (plan.end - plan.prefix_len[plan.template])[::2].tolist() == [0, 0]

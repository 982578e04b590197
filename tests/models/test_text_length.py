"""Class names longer than the text encoder's 77 tokens: cut by CLIP, reported once per name."""
from __future__ import annotations

import warnings

import open_clip
import pytest

from sclip_toolkit.models.text.length import prompt_length, too_long, warn_long_names

LONG = 'a ' + ' '.join(f'word{i}' for i in range(60)) + ' thing'  # about 120 tokens
TEMPLATES = ['a photo of a {}.', 'there is a {} in the scene, seen from far away on a sunny day.']


@pytest.fixture(scope='module')
def tokenizer():
    return open_clip.tokenizer.SimpleTokenizer(context_length=77)


def test_prompt_length_counts_start_and_end_tokens(tokenizer):
    text = 'a photo of a cat.'
    assert prompt_length(tokenizer, text) == int((tokenizer([text])[0] != 0).sum()) == 8  # <sot> a photo of a cat . <eot>
    assert prompt_length(tokenizer, LONG) > 77


def test_only_names_whose_longest_prompt_is_cut(tokenizer):
    # 64 tokens of name fit the short template but not the long one: the longest template decides
    middle = ' '.join(['cat'] * 64)
    found = dict(too_long(tokenizer, 77, ['cat', LONG, middle], TEMPLATES))
    assert set(found) == {LONG, middle} and found[middle] > 77
    assert too_long(tokenizer, 77, ['cat', middle], TEMPLATES[:1]) == []


def test_warned_once_naming_the_class(tokenizer):
    warned = set()
    with pytest.warns(UserWarning, match=r"class name 'a word0 word1 .*\.\.\.' is cut: its longest prompt has \d+ "
                                         r'tokens, but the text encoder reads only the first 77'):
        warn_long_names(tokenizer, 77, ['cat', LONG], TEMPLATES, warned)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        warn_long_names(tokenizer, 77, ['cat', LONG], TEMPLATES, warned)  # once per name


def test_segmenter_warns_about_a_long_name(tiny_clip_path):
    from sclip_toolkit import Segmenter

    seg = Segmenter('vanilla', checkpoint=str(tiny_clip_path), device='cpu',
                    cfg_options={'model.data_preprocessor.short_side': 32,
                                 'model.text_encoder.templates': TEMPLATES})
    with pytest.warns(UserWarning, match='is cut'):
        seg.embed_classes(['sky', LONG])

"""Class-name parsing, templates and the text classifier."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sclip_toolkit.exceptions import ConfigError
from sclip_toolkit.models.text import (ClassNameError, build_text_classifier, encode_prompts, flatten_names,
                                       load_templates, parse_class_names)

METHOD_FILES = {
    'configs/classnames/cls_voc21.txt': (', ', 21, 56),
    'configs/classnames/cls_voc21__clearclip.txt': (',', 21, 21),
    'configs/classnames/cls_voc21__proxyclip.txt': ('; ', 21, 46),
    'configs/classnames/cls_voc20.txt': (', ', 20, 30),
    'configs/classnames/cls_coco_object.txt': (', ', 81, 113),
    'configs/classnames/cls_coco_object__proxyclip.txt': ('; ', 81, 97),
    'configs/classnames/cls_ade20k847__proxyclip.txt': ('; ', 847, 847),
    'configs/classnames/cls_context459__proxyclip.txt': ('; ', 459, 459),
}


@pytest.mark.parametrize('path', sorted(METHOD_FILES))
def test_reference_files_give_reference_query_counts(path):
    sep, classes, queries = METHOD_FILES[path]
    parsed = parse_class_names(path, sep, allow_duplicates=True)
    names, idx = flatten_names(parsed)
    assert (len(parsed), len(names)) == (classes, queries)
    assert idx.max().item() + 1 == classes


def test_proxyclip_separator_keeps_commas_inside_names():
    parsed = parse_class_names('configs/classnames/cls_ade20k847__proxyclip.txt', '; ')
    assert parsed[1] == ['building, edifice']


def test_user_file_with_comma_space_works_with_auto_separator(tmp_path):
    f = tmp_path / 'mine.txt'
    f.write_text('sky, cloud\ntree\nperson, man, woman\n', encoding='utf-8')
    assert parse_class_names(f, None) == [['sky', 'cloud'], ['tree'], ['person', 'man', 'woman']]
    g = tmp_path / 'semi.txt'
    g.write_text('building, edifice; house\nroad\n', encoding='utf-8')
    assert parse_class_names(g, None) == [['building, edifice', 'house'], ['road']]


def test_crlf_and_non_ascii_names(tmp_path):
    f = tmp_path / 'c.txt'
    f.write_bytes('caf\u00e9, b\u00e4ckerei\r\nstra\u00dfe\r\n'.encode('utf-8'))
    assert parse_class_names(f, ', ') == [['caf\u00e9', 'b\u00e4ckerei'], ['stra\u00dfe']]


@pytest.mark.parametrize('content, line, what', [
    ('sky\n\ntree\n', 2, 'empty line'),
    ('sky, cloud, \ntree\n', 1, 'empty name'),
    ('sky\ntree, sky\n', 2, "'sky' already appears on line 1"),
    ('sky, sky\n', 1, 'already appears'),
])
def test_broken_files_name_file_and_line(tmp_path, content, line, what):
    f = tmp_path / 'bad.txt'
    f.write_text(content, encoding='utf-8')
    with pytest.raises(ClassNameError) as err:
        parse_class_names(f, ', ')
    assert f'{f}:{line}:' in str(err.value) and what in str(err.value)


def test_empty_missing_and_non_utf8_files(tmp_path):
    empty = tmp_path / 'empty.txt'
    empty.write_text('')
    with pytest.raises(ClassNameError, match='empty'):
        parse_class_names(empty)
    with pytest.raises(ClassNameError, match='not found'):
        parse_class_names(tmp_path / 'nope.txt')
    latin = tmp_path / 'latin.txt'
    latin.write_bytes(b'sky\ncaf\xe9\n')
    with pytest.raises(ClassNameError, match=r'latin.txt:2: not UTF-8'):
        parse_class_names(latin)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text(alphabet='abcdefgh xyz-', min_size=1, max_size=8).filter(lambda s: s.strip()),
                         min_size=1, max_size=4), min_size=1, max_size=6))
def test_parse_roundtrip(classes):
    norm = [[' '.join(n.split()) for n in c] for c in classes]
    flat = [n.lower() for c in norm for n in c]
    text = '\n'.join(', '.join(c) for c in classes) + '\n'
    if len(set(flat)) != len(flat):
        with pytest.raises(ClassNameError):
            parse_class_names(text, ', ')
    else:
        assert parse_class_names(text, ', ') == norm


def test_templates_by_name_and_errors():
    t = load_templates('openai_imagenet_80')
    assert len(t) == 80 and t[0] == 'a bad photo of a {}.'
    with pytest.raises(ConfigError, match='openai_imagenet_80'):
        load_templates('no_such_set')
    with pytest.raises(ValueError, match='placeholder'):
        load_templates(['a photo'])


def test_length_grouped_encoding_equals_full_context(tiny_backbone):
    tok = tiny_backbone.tokenizer()
    ids = tok(['a photo of a cat.', 'a very long description of a small red bicycle on a road.', 'dog'])
    full = tiny_backbone.encode_text(ids)
    grouped = encode_prompts(tiny_backbone, ids, batch_size=2)
    torch.testing.assert_close(grouped, full, atol=1e-5, rtol=1e-5)


def test_text_classifier_is_normalised_mean(tiny_backbone):
    templates = ['a photo of a {}.', 'a drawing of the {}.']
    emb = build_text_classifier(tiny_backbone, ['cat', 'dog'], templates)
    tok = tiny_backbone.tokenizer()
    per = tiny_backbone.encode_text(tok(['a photo of a cat.', 'a drawing of the cat.']))
    per = per / per.norm(dim=-1, keepdim=True)
    want = per.mean(0) / per.mean(0).norm()
    torch.testing.assert_close(emb[0], want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))


def test_disk_cache_roundtrip_and_corrupt_files(tmp_path):
    from sclip_toolkit.models.text import TextEmbeddingCache
    cache = TextEmbeddingCache(tmp_path)
    key = cache.key('file:abc', torch.float32, 'cpu', ['cat', 'dog'], ['a {}.'])
    assert key != cache.key('file:abc', torch.float32, 'cpu', ['cat', 'dog'], ['the {}.'])
    assert key != cache.key('file:abd', torch.float32, 'cpu', ['cat', 'dog'], ['a {}.'])
    assert cache.load(key, 2) is None
    emb = torch.randn(2, 8)
    cache.save(key, emb)
    torch.testing.assert_close(cache.load(key, 2), emb)
    assert cache.load(key, 3) is None  # wrong shape -> recompute
    (tmp_path / f'{key}.pt').write_bytes(b'garbage')
    assert cache.load(key, 2) is None
    assert not list(tmp_path.glob('*.tmp'))


def test_segmentor_uses_disk_cache(tiny_clip_path, tmp_path, monkeypatch):
    from mmseg.registry import MODELS
    import sclip_toolkit.models.text.clip_classifier as text_module
    cfg = dict(type='OVSegmentor', clip=dict(type='CLIPBackbone', checkpoint=str(tiny_clip_path)),
               text_encoder=dict(type='CLIPTextClassifier', class_names=[['cat'], ['dog']], templates=['a {}.'],
                                 cache=str(tmp_path)))
    first = MODELS.build(cfg).class_embeddings().names
    assert len(list(tmp_path.glob('*.pt'))) == 1
    calls = []
    monkeypatch.setattr(text_module, 'build_text_classifier_shared_prefix', lambda *a, **k: calls.append(1))
    second = MODELS.build(cfg).class_embeddings().names  # a new process would do the same: read, not encode
    assert not calls
    torch.testing.assert_close(first, second)


def test_comments_and_trailing_blank_lines_in_files(tmp_path):
    f = tmp_path / 'mine.txt'
    f.write_text('# my classes\nsky, cloud\n   # trees below\ntree\n\n  \n', encoding='utf-8')
    assert parse_class_names(f, ', ') == [['sky', 'cloud'], ['tree']]
    f.write_text('sky\n\ntree\n', encoding='utf-8')  # a blank line between classes would shift the indices
    with pytest.raises(ClassNameError, match=rf'{f}:2: empty line; .*start it with #'):
        parse_class_names(f, ', ')
    f.write_text('# only a comment\n\n', encoding='utf-8')
    with pytest.raises(ClassNameError, match='no classes'):
        parse_class_names(f, ', ')


@pytest.mark.parametrize('source, where, message', [
    (['sky', 'tree, sky'], None, "classes[1]: name 'sky' already appears in classes[0]"),
    (['sky', ''], None, 'classes[1] is empty'),
    (['sky', 'a,,b'], 'class {number} of --classes', "class 2 of --classes: empty name in 'a,,b'"),
    ([], None, 'no classes given'),
])
def test_list_errors_name_the_item_not_a_file_line(source, where, message):
    with pytest.raises(ClassNameError) as err:
        parse_class_names(source, ',', where=where)
    assert str(err.value).startswith(message) and 'line' not in str(err.value)

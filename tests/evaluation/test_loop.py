"""ResumableTestLoop: stored label maps are reused, Ctrl-C says how to resume, other settings are named."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from sclip_toolkit.cli import run_cli
from sclip_toolkit.evaluation import EvaluationInterrupted, ResumableTestLoop, SettingsMismatch, model_settings
from sclip_toolkit.evaluation.prediction_store import PredictionStore

SHAPE = (4, 5)


class Loader:
    """Three batches of one image each, as the test dataloader gives them."""

    def __init__(self, root):
        self.paths = [str(root / f'img{i}.jpg') for i in range(3)]
        self.dataset = self.paths

    def __iter__(self):
        for path in self.paths:
            sample = SegDataSample(metainfo=dict(img_path=path, ori_shape=SHAPE))
            sample.gt_sem_seg = PixelData(data=torch.zeros(1, *SHAPE, dtype=torch.long))
            yield dict(inputs=[torch.zeros(3, *SHAPE)], data_samples=[sample])

    def __len__(self):
        return len(self.paths)


class Model(torch.nn.Module):
    """Predicts label ``index of the image`` everywhere; raises KeyboardInterrupt on call ``stop_at``."""

    def __init__(self, stop_at=None):
        super().__init__()
        self.calls, self.stop_at = [], stop_at
        self.clip = SimpleNamespace(checkpoint_id='file:abc', vfm=SimpleNamespace(checkpoint_id='dino:/w.pth'))

    def test_step(self, batch):
        if len(self.calls) + 1 == self.stop_at:
            raise KeyboardInterrupt
        out = []
        for sample in batch['data_samples']:
            self.calls.append(sample.img_path)
            value = int(sample.img_path[-5])
            sample.pred_sem_seg = PixelData(data=torch.full((1, *SHAPE), value, dtype=torch.long))
            out.append(sample)
        return out


class Evaluator:
    def __init__(self):
        self.seen = []

    def process(self, data_samples, data_batch=None):
        self.seen += [(s.img_path, int(s.pred_sem_seg.data.max())) for s in data_samples]

    def evaluate(self, size):
        return dict(n=len(self.seen))


class Bar:
    closed = False

    def on_interrupt(self, runner):
        self.closed = True


def _loop(tmp_path, model, logit_scale=40):
    runner = SimpleNamespace(model=model, visualizer=SimpleNamespace(), call_hook=lambda *a, **k: None,
                             cfg=ConfigDict(model=dict(type='OVSegmentor', logit_scale=logit_scale)),
                             hooks=[Bar()])
    return ResumableTestLoop(runner, Loader(tmp_path), Evaluator(), prediction_dir=str(tmp_path / 'preds'))


def test_interrupt_then_resume_reuses_saved_predictions(tmp_path, capsys):
    loop = _loop(tmp_path, Model(stop_at=2))
    with pytest.raises(EvaluationInterrupted) as err:
        loop.run()
    assert str(err.value) == (f'interrupted; 1 prediction saved in {tmp_path / "preds"}: run the same command '
                              f'again to resume')
    assert loop.runner.hooks[0].closed  # hooks can tidy up (the progress bar) before the message
    assert run_cli(lambda: (_ for _ in ()).throw(err.value), 'eval.py') == 130
    assert capsys.readouterr().err.strip() == f'eval.py: {err.value}'  # one line, no traceback

    model = Model()
    loop = _loop(tmp_path, model)
    assert loop.run() == dict(n=3)
    assert model.calls == loop.dataloader.paths[1:]  # the first image came from the folder
    assert loop.evaluator.seen == [(p, i) for i, p in enumerate(loop.dataloader.paths)]  # same labels either way
    assert (loop.reused, loop.computed) == (1, 2)
    assert f'predictions: 1 reused from {tmp_path / "preds"}, 2 computed' in capsys.readouterr().err


def test_folder_of_other_settings_names_the_differences(tmp_path):
    _loop(tmp_path, Model()).run()
    with pytest.raises(SettingsMismatch) as err:
        _loop(tmp_path, Model(), logit_scale=50).run()
    text = str(err.value)
    assert 'model.logit_scale: 40 -> 50' in text and 'weights' not in text and len(text) < 300


def test_settings_are_the_model_config_and_the_weights():
    cfg = ConfigDict(type='OVSegmentor', clip=dict(name='ViT-B/16', download=True), post_process=[dict(type='PAMR')])
    settings = model_settings(cfg, Model())
    assert settings == {'model.type': 'OVSegmentor', 'model.clip.name': 'ViT-B/16',
                        'model.post_process[0].type': 'PAMR', 'weights.clip': 'file:abc',
                        'weights.vfm': 'dino:/w.pth'}  # 'download' does not change a prediction


def test_store_round_trip_and_no_partial_files(tmp_path):
    store = PredictionStore(tmp_path, {'model.x': 1})
    labels = torch.arange(20).reshape(1, 4, 5) % 7
    store.save('/data/a.jpg', labels)
    assert torch.equal(store.load('/data/a.jpg', (4, 5)), labels)
    assert store.load('/data/a.jpg', (5, 4)) is None and store.load('/data/b.jpg', (4, 5)) is None
    assert len(store) == 1 and not list(tmp_path.glob('*.tmp'))


# ------------------------------------------------------------------------------------------- what decides a result
class TextModel(Model):
    """Model() with a text encoder whose templates were read from a file."""

    def __init__(self, templates):
        super().__init__()
        self.text_encoder = SimpleNamespace(templates=list(templates))


def _text_loop(tmp_path, template_file):
    lines = template_file.read_text().splitlines()
    runner = SimpleNamespace(model=TextModel(lines), visualizer=SimpleNamespace(), call_hook=lambda *a, **k: None,
                             cfg=ConfigDict(model=dict(type='OVSegmentor', text_encoder=dict(
                                 templates=str(template_file)))), hooks=[])
    return ResumableTestLoop(runner, Loader(tmp_path), Evaluator(), prediction_dir=str(tmp_path / 'preds'))


def _write_images(tmp_path, content: bytes) -> None:
    for i in range(3):
        (tmp_path / f'img{i}.jpg').write_bytes(content + bytes([i]))


def test_an_edited_template_file_is_not_reused(tmp_path):
    """Case 1 of issue 22: the template file given by path changes, the folder is refused, naming the file."""
    _write_images(tmp_path, b'image')
    templates = tmp_path / 'templates.txt'
    templates.write_text('a photo of a {}.\n')
    assert _text_loop(tmp_path, templates).run() == dict(n=3)
    loop = _text_loop(tmp_path, templates)
    loop.run()
    assert loop.reused == 3  # unchanged: reused
    templates.write_text('a photo of a {}.\nthere is a {} in the scene.\n')
    with pytest.raises(SettingsMismatch) as err:
        _text_loop(tmp_path, templates).run()
    text = str(err.value)
    assert f'file {templates.resolve()}: its contents changed' in text and 'templates:' in text


def test_replaced_images_are_recomputed_not_reused(tmp_path, capsys):
    """Case 2 of issue 22: new images under the same names get new predictions."""
    _write_images(tmp_path, b'first')
    _loop(tmp_path, Model()).run()
    capsys.readouterr()
    (tmp_path / 'img1.jpg').write_bytes(b'second image, same name')
    model = Model()
    loop = _loop(tmp_path, model)
    loop.run()
    assert model.calls == [loop.dataloader.paths[1]] and (loop.reused, loop.computed) == (2, 1)
    err = capsys.readouterr().err
    assert '2 reused' in err and '1 computed and saved there (1 of them because their image changed' in err
    again = _loop(tmp_path, Model())
    again.run()
    assert again.reused == 3  # the recomputed label map now carries the new image's fingerprint


def test_store_remembers_the_image_content(tmp_path):
    image = tmp_path / 'a.jpg'
    image.write_bytes(b'one')
    store = PredictionStore(tmp_path / 'preds', {'model.x': 1})
    labels = torch.ones(1, 4, 5, dtype=torch.long)
    store.save(str(image), labels)
    assert torch.equal(store.load(str(image), (4, 5)), labels)
    image.write_bytes(b'two')  # same size, other content
    assert store.load(str(image), (4, 5)) is None and store.changed == 1


def test_settings_include_file_contents_and_mask_folders(tmp_path):
    classes = tmp_path / 'classes.txt'
    classes.write_text('cat\ndog\n')
    masks = tmp_path / 'masks'
    masks.mkdir()
    (masks / 'a.npz').write_bytes(b'1')
    cfg = ConfigDict(type='OVSegmentor', text_encoder=dict(class_names=str(classes)),
                     region_generator=dict(type='PrecomputedMasks', folder=str(masks), cache_dir=str(tmp_path)))
    first = model_settings(cfg, Model())
    assert set(first) >= {f'file {classes.resolve()}', f'folder {masks.resolve()}'}
    assert not any(str(tmp_path) == k.split(' ', 1)[-1] for k in first)  # cache folders decide nothing
    (masks / 'b.npz').write_bytes(b'2')
    classes.write_text('cat\nbird\n')
    second = model_settings(cfg, Model())
    assert first[f'folder {masks.resolve()}'] != second[f'folder {masks.resolve()}']
    assert first[f'file {classes.resolve()}'] != second[f'file {classes.resolve()}']

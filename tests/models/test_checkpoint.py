"""Reading checkpoint files: zip state dicts are memory-mapped, legacy ones read, both give the same tensors."""
from __future__ import annotations

import torch

from sclip_toolkit.models.checkpoint import load_state_dict
from sclip_toolkit.testing import random_clip_state_dict


def test_zip_state_dict_is_memory_mapped_and_legacy_is_read(tmp_path, monkeypatch):
    state = random_clip_state_dict()
    torch.save(state, tmp_path / 'zip.pt')
    torch.save(state, tmp_path / 'legacy.pt', _use_new_zipfile_serialization=False)
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, 'load', lambda *a, **k: calls.append(k.get('mmap')) or real_load(*a, **k))
    mapped, legacy = load_state_dict(tmp_path / 'zip.pt'), load_state_dict(tmp_path / 'legacy.pt')
    assert calls == [True, False]
    assert mapped.keys() == legacy.keys() == state.keys()
    assert all(torch.equal(mapped[k], state[k]) and torch.equal(legacy[k], state[k]) for k in state)


def test_mapped_tensors_outlive_the_file(tmp_path):
    """The model copies the weights, but a caller keeping the dict must not see a deleted file's pages vanish."""
    path = tmp_path / 'w.pt'
    torch.save({'w': torch.arange(10.0)}, path)
    state = load_state_dict(path)
    path.unlink()
    assert torch.equal(state['w'] * 2, torch.arange(10.0) * 2)

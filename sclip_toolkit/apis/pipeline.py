"""Running a config's test pipeline and segmentor on single images (used by dump_logits, the API and the demo)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

ImageLike = Union[str, Path, np.ndarray]


def build_segmentor(cfg: Config, device: Optional[Union[str, torch.device]] = None) -> torch.nn.Module:
    """Build the config's model in eval mode on ``device`` (default: CUDA when available, else CPU)."""
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    import sclip_toolkit  # noqa: F401  (registration)
    model = MODELS.build(copy.deepcopy(cfg.model))
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    return model.to(device).eval()


# For configs without a dataset (the method bases in configs/_base_/methods/, used by the Segmenter API).
DEFAULT_TEST_PIPELINE = [dict(type='LoadImageChecked'), dict(type='PackSegInputs')]


def _inference_pipeline(cfg: Config, from_array: bool) -> Compose:
    loader = cfg.get('test_dataloader')
    pipeline = loader.dataset.pipeline if loader is not None else DEFAULT_TEST_PIPELINE
    steps = [copy.deepcopy(t) for t in pipeline if 'Annotations' not in t['type']]
    if from_array:
        steps[0] = dict(type='LoadImageFromNDArray')
    return Compose(steps)


def prepare_inputs(cfg: Config, image: ImageLike) -> dict:
    """Run the test pipeline (without annotations) on an image path or a BGR uint8 (H, W, 3) array."""
    from_array = isinstance(image, np.ndarray)
    data = dict(img=image) if from_array else dict(img_path=str(image))
    return _inference_pipeline(cfg, from_array)(data)


@torch.no_grad()
def run_segmentor(model: torch.nn.Module, cfg: Config, images: Sequence[ImageLike],
                  sources: Optional[Sequence[Optional[str]]] = None) -> List[SegDataSample]:
    """Segment images one by one through the config's pipeline; returns the filled data samples.

    ``sources``: for arrays, the file each came from (or None), recorded as the sample's ``img_path`` so that parts
    keyed by file name (precomputed region masks, the region cache) find it.
    """
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    out = []
    for i, image in enumerate(images):
        data = prepare_inputs(cfg, image)
        if sources is not None and sources[i] is not None and isinstance(image, np.ndarray):
            data['data_samples'].set_metainfo(dict(img_path=str(sources[i])))
        batch = model.data_preprocessor({k: [v] for k, v in data.items()}, training=False)
        out.extend(model.predict(batch['inputs'], batch['data_samples']))
    return out

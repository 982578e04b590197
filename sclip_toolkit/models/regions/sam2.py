"""SAM 2's automatic mask generator as a region generator, with CorrCLIP's settings (``sam2`` from PyPI)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmseg.registry import MODELS

from ...exceptions import ConfigError
from ..checkpoint import CheckpointError
from .base import RegionGenerator

# size -> (config inside the sam2 package, checkpoint file), for SAM 2.0 (CorrCLIP's) and SAM 2.1
SAM2_MODELS = {
    '2.0': {'tiny': 't', 'small': 's', 'base_plus': 'b+', 'large': 'l'},
    '2.1': {'tiny': 't', 'small': 's', 'base_plus': 'b+', 'large': 'l'},
}
SAM2_URLS = {'2.0': 'https://dl.fbaipublicfiles.com/segment_anything_2/072824/',
             '2.1': 'https://dl.fbaipublicfiles.com/segment_anything_2/092824/'}


def sam2_files(version: str, size: str) -> tuple:
    """(config name in the sam2 package, checkpoint file name, Hugging Face repo) of a published SAM 2."""
    if version not in SAM2_MODELS or size not in SAM2_MODELS[version]:
        raise ConfigError(f'SAM2Masks: unknown SAM 2 model version={version!r} size={size!r}; versions '
                          f'{sorted(SAM2_MODELS)}, sizes {sorted(SAM2_MODELS["2.0"])}')
    stem = 'sam2' if version == '2.0' else 'sam2.1'
    return (f'configs/{stem}/{stem}_hiera_{SAM2_MODELS[version][size]}.yaml', f'{stem}_hiera_{size}.pt',
            f'facebook/{stem}-hiera-{size.replace("_", "-")}')


def paint_masks(masks: Sequence[dict], shape) -> np.ndarray:
    """CorrCLIP's id map from SAM's masks: sorted by area, smallest first (stable), painted with ids 1, 2, ... on
    zeros, so a larger mask overwrites the smaller ones it covers. (H, W) int64; 0 = no mask."""
    ids = np.zeros(tuple(shape), dtype=np.int64)
    for k, ann in enumerate(sorted(masks, key=lambda a: a['area']), start=1):
        ids[ann['segmentation']] = k
    return ids


def import_sam2():
    try:
        import sam2.automatic_mask_generator
        import sam2.build_sam
    except ImportError as exc:
        raise ConfigError(f'SAM2Masks needs the sam2 package ({exc}); install it with SAM2_BUILD_CUDA=0 pip install '
                          f'--no-build-isolation sam2==1.1.0 (tools/setup_env.sh does)') from None
    return sam2


@MODELS.register_module()
class SAM2Masks(RegionGenerator):
    """Regions from SAM 2's automatic mask generator (Ravi et al. 2024), as CorrCLIP runs it online.

    Defaults are CorrCLIP's: SAM 2.0 hiera-large, 8x8 point prompts, predicted-IoU and stability thresholds 0.4,
    single-mask output, no hole filling; masks painted by :func:`paint_masks`. Weights: ``checkpoint``, else the
    official file in the torch hub cache (``~/.cache/torch/hub/checkpoints``) or the Hugging Face cache, downloaded
    to the torch hub cache when missing and online.

    Args:
        size: 'tiny' | 'small' | 'base_plus' | 'large'.
        version: '2.0' (CorrCLIP) or '2.1'.
        checkpoint: a local SAM 2 checkpoint of that size and version.
        points_per_side / pred_iou_thresh / stability_score_thresh / multimask_output / points_per_batch:
            SAM2AutomaticMaskGenerator's arguments.
        precision: 'auto' (fp16 autocast on CUDA, as CorrCLIP; fp32 elsewhere) or 'fp32'.
        download: fetch missing official weights when online.
        model: an already built SAM 2 module (programmatic use, e.g. tests); then no weights are loaded.
        cache_dir: see :class:`RegionGenerator`.
    """

    def __init__(self, size: str = 'large', version: str = '2.0', checkpoint: Optional[str] = None,
                 points_per_side: int = 8, pred_iou_thresh: float = 0.4, stability_score_thresh: float = 0.4,
                 multimask_output: bool = False, points_per_batch: int = 64, precision: str = 'auto',
                 download: bool = True, model: Optional[nn.Module] = None, cache_dir=None):
        super().__init__(cache_dir)
        self.config_name, self.filename, self.hf_repo = sam2_files(version, size)
        if precision not in ('auto', 'fp32'):
            raise ConfigError(f"SAM2Masks precision must be 'auto' or 'fp32', got {precision!r}")
        self.size, self.version, self.precision, self.download = size, version, precision, download
        self.checkpoint = str(Path(checkpoint).expanduser()) if checkpoint else None
        if self.checkpoint and not Path(self.checkpoint).is_file():
            raise CheckpointError(f'SAM 2 checkpoint {self.checkpoint} does not exist '
                                  f'(model.region_generator.checkpoint)')
        self.options = dict(points_per_side=int(points_per_side), pred_iou_thresh=float(pred_iou_thresh),
                            stability_score_thresh=float(stability_score_thresh),
                            multimask_output=bool(multimask_output), points_per_batch=int(points_per_batch))
        self._given = model is not None
        # kept outside nn.Module's registry: SAM 2 is not part of the segmentor's state dict or its .to()
        object.__setattr__(self, '_model', model)
        self._generator = None

    def setting(self) -> dict:
        weights = self.checkpoint or ('given module' if self._given else self.filename)
        return dict(size=self.size, version=self.version, weights=str(weights), **self.options)

    # ------------------------------------------------------------------ weights
    def weights_path(self) -> Path:
        """The checkpoint file: the configured one, a cached official one, or one downloaded now."""
        if self.checkpoint:
            return Path(self.checkpoint)
        hub = Path(torch.hub.get_dir()) / 'checkpoints' / self.filename
        if hub.is_file():
            return hub
        try:
            from huggingface_hub import hf_hub_download
            return Path(hf_hub_download(self.hf_repo, self.filename, local_files_only=True))
        except Exception:  # not in the HF cache (or no huggingface_hub): try the official URL next
            pass
        url = SAM2_URLS[self.version] + self.filename
        if self.download:
            try:
                hub.parent.mkdir(parents=True, exist_ok=True)
                print_log(f'downloading SAM 2 weights {url} -> {hub}', logger='current')
                torch.hub.download_url_to_file(url, str(hub))
                return hub
            except Exception as exc:  # offline / blocked
                reason = f' (download failed: {type(exc).__name__})'
        else:
            reason = ' (download=False)'
        raise CheckpointError(f'SAM 2 weights {self.filename} not found{reason}: put {url} at {hub}, or give '
                              f'model.region_generator.checkpoint=<file> (--cfg-options on the command line)')

    def _mask_generator(self, device: torch.device):
        if self._generator is None:
            sam2 = import_sam2()
            model = self._model
            if model is None:
                model = sam2.build_sam.build_sam2(self.config_name, str(self.weights_path()), device=str(device),
                                                  apply_postprocessing=False)
            object.__setattr__(self, '_model', model.to(device).eval())
            self._generator = sam2.automatic_mask_generator.SAM2AutomaticMaskGenerator(self._model, **self.options)
        return self._generator

    # ------------------------------------------------------------------ masks
    def masks(self, rgb: np.ndarray, device: torch.device) -> List[dict]:
        """SAM 2's masks (dicts with 'segmentation' (H0, W0) bool and 'area') of an RGB uint8 image."""
        generator = self._mask_generator(device)
        fp16 = self.precision == 'auto' and device.type == 'cuda'
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=fp16):
            return generator.generate(rgb)

    def generate(self, rgb: np.ndarray, meta: dict) -> np.ndarray:
        device = self._target_device
        name = Path(meta['img_path']).name if meta.get('img_path') else f'{rgb.shape[0]}x{rgb.shape[1]} array'
        print_log(f'SAM 2 ({self.size}): generating region masks for {name} ...', logger='current')
        start = time.perf_counter()
        masks = self.masks(rgb, device)
        print_log(f'SAM 2: {len(masks)} masks for {name} in {time.perf_counter() - start:.1f} s', logger='current')
        return paint_masks(masks, rgb.shape[:2])

    _target_device = torch.device('cpu')

    def forward(self, image: torch.Tensor, meta: dict):
        self._target_device = image.device  # SAM 2 runs where the segmentor runs
        return super().forward(image, meta)


@MODELS.register_module()
class OVStitcherSAM2Masks(SAM2Masks):
    """:class:`SAM2Masks` with OV-Stitcher's generator settings: SAM 2.0 hiera-large, 64x64 points, predicted-IoU
    and stability thresholds 0.7 (its ``set_mask_generator('sam2')``). A type of its own so that a config switches
    to ``PrecomputedMasks`` by its type alone, as CorrCLIP's does."""

    def __init__(self, points_per_side: int = 64, pred_iou_thresh: float = 0.7, stability_score_thresh: float = 0.7,
                 **kwargs):
        super().__init__(points_per_side=points_per_side, pred_iou_thresh=pred_iou_thresh,
                         stability_score_thresh=stability_score_thresh, **kwargs)

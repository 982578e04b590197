"""Data transforms the references' datasets need beyond mmseg's."""
from __future__ import annotations

import mmcv
import numpy as np
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from ..exceptions import DataError


@TRANSFORMS.register_module()
class LoadAnnotationsU16(LoadAnnotations):
    """mmseg's LoadAnnotations for label maps with more than 256 classes (ADE20K-847, PASCAL Context-459).

    mmseg casts the decoded map to uint8, which wraps every label above 255; this keeps up to 16 bits (the
    references' ``MyLoadAnnotations``). 8-bit maps load as uint16 with the same values. ``reduce_zero_label`` and
    the dataset's ``label_map`` behave as in mmseg.
    """

    def _load_seg_map(self, results: dict) -> None:
        data = fileio.get(results['seg_map_path'], backend_args=self.backend_args)
        seg = mmcv.imfrombytes(data, flag='unchanged', backend=self.imdecode_backend).squeeze()
        if seg.ndim != 2:
            raise DataError(f'{results["seg_map_path"]}: expected a single-channel label map, got shape {seg.shape}')
        if seg.dtype.kind not in 'ui' or (seg.size and (seg.min() < 0 or seg.max() > np.iinfo(np.uint16).max)):
            raise DataError(f'{results["seg_map_path"]}: label values must be integers in 0..65535, got dtype '
                             f'{seg.dtype} with range {seg.min()}..{seg.max()}')
        seg = seg.astype(np.uint16)
        if self.reduce_zero_label is None:
            self.reduce_zero_label = results['reduce_zero_label']
        if self.reduce_zero_label != results['reduce_zero_label']:
            raise DataError(f'LoadAnnotationsU16(reduce_zero_label={self.reduce_zero_label}) disagrees with the '
                             f'dataset (reduce_zero_label={results["reduce_zero_label"]}); leave it unset in the '
                             f'transform')
        if self.reduce_zero_label:  # 0 -> ignore (255), others shift down by one; as mmseg does for uint8
            seg[seg == 0] = 255
            seg = seg - 1
            seg[seg == 254] = 255
        label_map = results.get('label_map')
        if label_map is not None:
            original = seg.copy()
            for old_id, new_id in label_map.items():
                seg[original == old_id] = new_id
        results['gt_seg_map'] = seg
        results['seg_fields'].append('gt_seg_map')

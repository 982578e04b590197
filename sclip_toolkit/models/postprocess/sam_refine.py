"""SAM refinement of coarse masks (Trident's ``sam_refinement``): prompts from the coarse segmentation, SAM's prompt
encoder and mask decoder (segment-anything) on the image embedding the SAM affinity source computed.

On a half-resolution copy of the labels (nearest) and scores (bilinear):

1. pixels whose best score is below ``coarse_thresh`` become an extra "unsure" class, left out;
2. each class whose best score reaches ``coarse_thresh`` is split into 8-connected regions; regions smaller than
   ``minimal_area`` (half-resolution pixels) are dropped;
3. every region prompts SAM with its bounding box, the point of its highest score, and the class's score map
   (scores above ``coarse_thresh`` times ``mask_coeff``, resized to SAM's 256 mask input);
4. masks whose predicted IoU exceeds ``iou_thresh`` are kept. A class's refined score is, where any of its kept
   masks is on, the highest sigmoid(mask logit) x class score over its masks; the label is the best refined class,
   and pixels that no kept mask covers keep their label;
5. regions whose mask failed keep their class scores where those beat the refined ones.

The refined scores replace the class scores (the reference stores them as ``seg_logits``).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from scipy import ndimage

from ...exceptions import ConfigError
from ..vfm.sam_model import load_sam
from ..scoring.base import ScoreMap
from ..scoring.scores import DenseScores
from .base import PostProcessStep, StepContext


def class_regions(labels: np.ndarray, scores: torch.Tensor, minimal_area: int
                  ) -> Tuple[List[np.ndarray], torch.Tensor, torch.Tensor]:
    """The 8-connected regions of one class's mask ``labels`` (h, w) bool with at least ``minimal_area`` pixels, in
    raster order of their first pixel: (masks (h, w) uint8, boxes (n, 4) x1 y1 x2 y2 inclusive, points (n, 2) x y
    of each region's highest ``scores`` (h, w))."""
    ids, count = ndimage.label(labels, structure=np.ones((3, 3), dtype=bool))
    masks, boxes, points = [], [], []
    for region in range(1, count + 1):
        mask = ids == region
        if mask.sum() < minimal_area:
            continue
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
        best = int(torch.argmax(scores * torch.from_numpy(mask).to(scores)))
        points.append([best % scores.shape[1], best // scores.shape[1]])
        masks.append(mask.astype(np.uint8))
    return masks, torch.tensor(boxes, dtype=torch.float32).view(-1, 4), torch.tensor(points, dtype=torch.float32)


@MODELS.register_module()
class SAMRefinement(PostProcessStep):
    """Refine labels and scores with SAM's mask decoder prompted by the coarse regions (see the module docstring).

    Needs Trident's inference (``SplicedInference`` with ``affinity.embedding=True``), whose SAM encoding of the
    image it reads. Runs after the probability threshold, on the whole score map.

    Args:
        model_type / checkpoint / download: SAM's weights (segment-anything layout), as for ``SAMAffinity``.
        coarse_thresh: scores below it are "unsure" and give no prompt (Trident: 0.2; Cityscapes 0.1).
        minimal_area: smallest region (in half-resolution pixels) that prompts SAM (225).
        mask_coeff: scale of the score map given as SAM's mask prompt (0.005).
        iou_thresh: smallest predicted IoU of a kept mask (0.8).
        enabled: False keeps the settings in the config but skips the step and loads no weights (the reference's
            default; ``--sam-refine`` turns it on).
        model: a built segment-anything ``Sam`` to take the prompt encoder and mask decoder from (instead of the
            weights file).
    """

    bandable = False
    streamable = False

    def __init__(self, model_type: str = 'vit_b', checkpoint: Optional[str] = None, coarse_thresh: float = 0.2,
                 minimal_area: int = 225, mask_coeff: float = 0.005, iou_thresh: float = 0.8, download: bool = True,
                 enabled: bool = True, model: Optional[torch.nn.Module] = None):
        super().__init__()
        if minimal_area < 0 or mask_coeff < 0:
            raise ValueError(f'SAMRefinement minimal_area and mask_coeff must be >= 0, got {minimal_area}, '
                             f'{mask_coeff}')
        self.enabled, self.weights_id = bool(enabled), None
        self.needs_sam_embedding = self.enabled  # the segmentor asks the SAM affinity source for the embedding
        if self.enabled:
            if model is None:
                model, self.weights_id = load_sam(model_type, checkpoint, ('prompt_encoder', 'mask_decoder'),
                                                  download)
            else:
                self.weights_id = 'given'
            self.prompt_encoder, self.mask_decoder = model.prompt_encoder, model.mask_decoder
            self.img_size = self.prompt_encoder.input_image_size[0]  # 1024
            self.mask_size = self.prompt_encoder.mask_input_size[0]  # 256
        self.coarse_thresh, self.minimal_area = float(coarse_thresh), int(minimal_area)
        self.mask_coeff, self.iou_thresh = float(mask_coeff), float(iou_thresh)

    def _decode(self, emb: torch.Tensor, points: torch.Tensor, boxes: torch.Tensor, mask: torch.Tensor):
        """SamPredictor.predict_torch without the thresholding: (low-res mask logits (n, 1, 256, 256), IoU (n, 1)).
        The mask prompt is one (1, 256, 256) map for all n prompts, as the reference passes it."""
        sparse, dense = self.prompt_encoder(points=(points, torch.ones(points.shape[:2], device=points.device)),
                                            boxes=boxes, masks=mask)
        low_res, iou = self.mask_decoder(image_embeddings=emb, image_pe=self.prompt_encoder.get_dense_pe(),
                                         sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                         multimask_output=False)
        return low_res, iou

    def _upscale(self, low_res: torch.Tensor, sam) -> torch.Tensor:
        """Sam.postprocess_masks: to the padded square, cut to the input, resized to SAM's original size."""
        x = F.interpolate(low_res, (self.img_size, self.img_size), mode='bilinear', align_corners=False)
        x = x[..., :sam.input_size[0], :sam.input_size[1]]
        return F.interpolate(x, sam.original_size, mode='bilinear', align_corners=False)

    def forward(self, scores: ScoreMap, ctx: StepContext) -> None:
        if not self.enabled:
            return
        sam = getattr(ctx.features, 'sam', None)
        if sam is None or sam.embedding is None:
            raise ConfigError("SAMRefinement needs SAM's image embedding: use it with model.inference="
                              "dict(type='SplicedInference', affinity=dict(type='SAMAffinity', embedding=True))")
        if not isinstance(scores, DenseScores):
            raise ConfigError('SAMRefinement needs the whole score map (keep_scores)')
        labels, probs = refine(self, scores.labels()[0], scores.probs, sam)
        scores.probs, scores._cached = probs, None
        scores.set_labels(labels)

    def extra_repr(self) -> str:
        return (f'enabled={self.enabled}, coarse_thresh={self.coarse_thresh}, minimal_area={self.minimal_area}, '
                f'mask_coeff={self.mask_coeff}, iou_thresh={self.iou_thresh}, weights={self.weights_id}')


@torch.no_grad()
def refine(step: SAMRefinement, labels: torch.Tensor, probs: torch.Tensor, sam) -> Tuple[torch.Tensor, torch.Tensor]:
    """(labels (H, W), scores (C, H, W)) refined as the module docstring says; unchanged when no mask passes."""
    from segment_anything.utils.transforms import ResizeLongestSide
    num_classes, (height, width) = probs.shape[0], probs.shape[-2:]
    dh, dw = height // 2, width // 2
    small = F.interpolate(labels[None, None].float(), (dh, dw), mode='nearest')[0, 0].long()
    small_probs = F.interpolate(probs[None], (dh, dw), mode='bilinear', align_corners=False)[0]
    thresh = step.coarse_thresh
    if thresh > 0:
        small[small_probs.max(0)[0] < thresh] = num_classes  # "unsure": no prompt
    resize = ResizeLongestSide(step.img_size)
    side = step.mask_size
    mh, mw = resize.get_preprocess_shape(height, width, side)
    emb = sam.embedding.float()
    kept_masks, kept_logits, kept_class, failed = [], [], [], []
    small_np = small.cpu().numpy()
    for c in range(num_classes):
        if small_probs[c].max() < thresh:
            continue
        masks, boxes, points = class_regions(small_np == c, small_probs[c].cpu(), step.minimal_area)
        if not masks:
            continue
        prompt = F.interpolate(small_probs[c][None, None], (mh, mw), mode='bilinear', align_corners=False)[0]
        prompt = F.pad(prompt, (0, side - mw, 0, side - mh))
        prompt = torch.where(prompt > thresh, step.mask_coeff * prompt, torch.zeros_like(prompt))
        boxes = resize.apply_boxes_torch(boxes, (dh, dw)).to(emb.device)
        points = resize.apply_coords_torch(points, (dh, dw))[:, None].to(emb.device)
        low_res, iou = step._decode(emb, points, boxes, prompt.to(emb.device))
        valid = (iou > step.iou_thresh)[:, 0].cpu()
        stacked = torch.from_numpy(np.stack(masks))
        if int(valid.sum()) != len(masks):
            failed.append(stacked[~valid])
        if valid.any():
            kept_logits.append(low_res[valid.to(low_res.device)])
            kept_class.append(torch.full((int(valid.sum()),), c))
    if not kept_logits:
        return labels, probs
    logits = step._upscale(torch.cat(kept_logits), sam)
    if tuple(logits.shape[-2:]) != (height, width):
        logits = F.interpolate(logits, (height, width), mode='bilinear', align_corners=False)
    on, soft, owner = logits[:, 0] > 0.0, logits[:, 0].sigmoid(), torch.cat(kept_class)
    refined = probs.new_zeros(probs.shape)
    for c in owner.unique().tolist():
        mine = owner == c
        refined[c] = (soft[mine] * probs[c]).max(dim=0)[0] * on[mine].any(dim=0)
    out = refined.argmax(0)
    out = torch.where(refined.sum(0) == 0, labels, out)
    if failed:
        area = torch.cat(failed).float()[None]
        area = F.interpolate(area, (height, width), mode='nearest')[0].to(probs.device).sum(0) != 0
        failed_probs = area * probs
        refined = torch.where(failed_probs > refined, failed_probs, refined)
        out = torch.where(failed_probs.max(0)[0] > refined.max(0)[0], labels, out)
    return out, refined

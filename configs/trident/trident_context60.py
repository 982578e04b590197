# Trident on context60: the reference's configs/cfg_context60.py (short side 576, prob_thd 0.15, coarse_thresh 0.15);
# published mIoU 38.6 (ViT-B/16).
# SAM refinement (the reference's --sam_refine): --sam-refine on the command line.
_base_ = ['../_base_/datasets/context60.py', '../_base_/methods/trident.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context60.txt'),
             data_preprocessor=dict(short_side=576),
             post_process=[dict(type='ProbThreshold', threshold=0.15),
                           dict(type='SAMRefinement', enabled=False, coarse_thresh=0.15, minimal_area=225,
                                mask_coeff=0.005, iou_thresh=0.8)])

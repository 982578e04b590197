# Trident on ade20k: the reference's configs/cfg_ade20k.py (short side 576, prob_thd 0.0, coarse_thresh 0.05,
# refine_neg_cos False); published mIoU 21.9 (ViT-B/16).
# SAM refinement (the reference's --sam_refine): --sam-refine on the command line.
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/methods/trident.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_ade20k.txt'),
             data_preprocessor=dict(short_side=576),
             inference=dict(affinity=dict(refine_neg_cos=False)),
             post_process=[dict(type='SAMRefinement', enabled=False, coarse_thresh=0.05, minimal_area=225,
                                mask_coeff=0.005, iou_thresh=0.8)])

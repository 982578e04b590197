# Trident on voc21: the reference's configs/cfg_voc21.py (short side 448, prob_thd 0.2, coarse_thresh 0.2); published
# mIoU 67.1 (ViT-B/16).
# SAM refinement (the reference's --sam_refine): --sam-refine on the command line.
_base_ = ['../_base_/datasets/voc21.py', '../_base_/methods/trident.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc21__proxyclip.txt'),
             post_process=[dict(type='ProbThreshold', threshold=0.2),
                           dict(type='SAMRefinement', enabled=False, coarse_thresh=0.2, minimal_area=225,
                                mask_coeff=0.005, iou_thresh=0.8)])

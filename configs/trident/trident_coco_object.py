# Trident on coco_object: the reference's configs/cfg_coco_object.py (short side 448, prob_thd 0.25, coarse_thresh
# 0.25); published mIoU 41.1 (ViT-B/16).
# SAM refinement (the reference's --sam_refine): --sam-refine on the command line.
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/methods/trident.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_object__proxyclip.txt',
                               allow_duplicate_names=True),  # 'bed' is a background name and a class, as in the reference
             post_process=[dict(type='ProbThreshold', threshold=0.25),
                           dict(type='SAMRefinement', enabled=False, coarse_thresh=0.25, minimal_area=225,
                                mask_coeff=0.005, iou_thresh=0.8)])

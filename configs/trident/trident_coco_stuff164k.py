# Trident on coco_stuff164k: the reference's configs/cfg_coco_stuff164k.py (short side 448, prob_thd 0.0,
# coarse_thresh 0.05); published mIoU 28.3 (ViT-B/16).
# SAM refinement (the reference's --sam_refine): --sam-refine on the command line.
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/methods/trident.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff.txt'),
             post_process=[dict(type='SAMRefinement', enabled=False, coarse_thresh=0.05, minimal_area=225,
                                mask_coeff=0.005, iou_thresh=0.8)])

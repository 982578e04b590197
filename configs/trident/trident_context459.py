# Trident on context459: the reference's configs/cfg_context459.py (short side 448, prob_thd 0.0, coarse_thresh 0.2);
# no published number.
# SAM refinement (the reference's --sam_refine): --sam-refine on the command line.
_base_ = ['../_base_/datasets/context459.py', '../_base_/methods/trident.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_context459__proxyclip.txt'),
             post_process=[dict(type='SAMRefinement', enabled=False, coarse_thresh=0.2, minimal_area=225,
                                mask_coeff=0.005, iou_thresh=0.8)])

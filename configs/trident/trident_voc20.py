# Trident on voc20: the reference's configs/cfg_voc20.py (short side 336, prob_thd 0.0, coarse_thresh 0.2, stride 112,
# cos_fac 0.0); published mIoU 84.5 (ViT-B/16).
# SAM refinement (the reference's --sam_refine): --sam-refine on the command line.
_base_ = ['../_base_/datasets/voc20.py', '../_base_/methods/trident.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_voc20__proxyclip.txt'),
             data_preprocessor=dict(short_side=336),
             inference=dict(stride=112, affinity=dict(cos_fac=0.0)),
             post_process=[dict(type='SAMRefinement', enabled=False, coarse_thresh=0.2, minimal_area=225,
                                mask_coeff=0.005, iou_thresh=0.8)])

# Trident on cityscapes: the reference's configs/cfg_city_scapes.py (short side 688, prob_thd 0.0, coarse_thresh 0.1,
# cos_fac 3.0, refine_neg_cos False, SAM on the left and right halves); published mIoU 42.9 (ViT-B/16).
# SAM refinement (the reference's --sam_refine): --sam-refine on the command line.
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/methods/trident.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_city_scapes.txt'),
             data_preprocessor=dict(short_side=688),
             inference=dict(affinity=dict(cos_fac=3.0, refine_neg_cos=False, halves=True)),
             post_process=[dict(type='SAMRefinement', enabled=False, coarse_thresh=0.1, minimal_area=225,
                                mask_coeff=0.005, iou_thresh=0.8)])

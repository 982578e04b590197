# RF-CLIP on COCO-Stuff-164k (171 classes). The reference's cfg_coco_stuff164k.py at c2b333e: whole image (another
# stored version of that file, ab123c1, slides 224/112 crops: --cfg-options
# "model.inference=dict(_delete_=True,type='SlideInference')"). Unset values are the method's
# (configs/_base_/methods/rfclip.py: short side 336, crops 224/112, tau 40, PAMR off).
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/methods/rfclip.py']
model = dict(text_encoder=dict(class_names='configs/classnames/cls_coco_stuff.txt'),
             inference=dict(_delete_=True, type='WholeInference', resize='via_input'),
             head=dict(global_semantics_weight=0.2, mean_vector_weight=0.02, h_threshold=0.02))

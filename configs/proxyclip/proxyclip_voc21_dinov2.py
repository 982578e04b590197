# ProxyCLIP with DINOv2 ViT-B/14 with 4 registers (the reference's vfm_model='dinov2': dinov2_vitb14_reg).
_base_ = ['./proxyclip_voc21.py']
model = dict(clip=dict(vfm=dict(_delete_=True, type='VFMFeatures', family='dinov2',
                                arch='vit_base', patch_size=14, registers=4, checkpoint=None)))

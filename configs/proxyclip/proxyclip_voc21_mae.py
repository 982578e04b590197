# ProxyCLIP with MAE ViT-B/16 (the reference's vfm_model='mae', mae_pretrain_vit_base.pth). MAE is built for the
# crop size (img_size = crop 336: positional grid resized once at load time) and every crop is resized to it.
_base_ = ['./proxyclip_voc21.py']
model = dict(clip=dict(vfm=dict(_delete_=True, type='VFMFeatures', family='mae',
                                arch='vit_base', patch_size=16, img_size=336, checkpoint=None)))

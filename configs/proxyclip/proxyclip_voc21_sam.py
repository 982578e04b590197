# ProxyCLIP with SAM's ViT-B image encoder (the reference's vfm_model='sam', sam_vit_b_01ec64.pth): each crop is
# stretched to 1024x1024, so the proxy attention is 4096x4096 per crop; fewer crops per batch bound the memory.
_base_ = ['./proxyclip_voc21.py']
model = dict(inference=dict(batch_size=2),
             clip=dict(vfm=dict(_delete_=True, type='VFMFeatures', family='sam',
                                arch='vit_base', patch_size=16, checkpoint=None)))

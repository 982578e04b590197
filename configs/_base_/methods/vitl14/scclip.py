# SC-CLIP with OpenAI ViT-L/14 (24 blocks): the layer indices of the reference's first commit (74471da; removed
# later): pre 16, post 6, fusion of blocks 8..18, res_cls 0.1. Dataset settings as for ViT-B/16 except the
# thresholds that commit lists for L/14 (logit scale 40 everywhere): VOC21 prob_thd 0.2, COCO-Object prob_thd 0.25.
_base_ = ['../scclip.py']
model = dict(clip=dict(name='ViT-L/14',
                       final_attn=dict(pre_adjust_idx=16, post_adjust_idx=6, multi_start_idx=8, multi_end_idx=19,
                                       res_cls=0.1)))

# CorrCLIP on the MESS datasets (unseen domains: CorrCLIPv1 ships no MESS config): the method's defaults from
# ../methods/corrclip.py (MetaCLIP ViT-B/16, DINO ViT-B/8, short side 336, crops 336/112, region vote; SAM 2 masks
# computed online and cached, as no published masks exist for MESS). CorrCLIP's one systematic name variant, applied
# to every name file it ships, is applied here too: 'person' becomes 'people'.
# MESS's class names are used as MESS gives them (one name per class, its background class 'background' /
# 'others' / ... scored by its name like any other class), and no probability threshold: the references tune it per
# shipped dataset to push unsure pixels into class 0, but MESS has no split to tune on, its background is not always
# class 0 (ISPRS Potsdam: 5, DRAM: 11) and BDD100K and ATLANTIS have none.
_base_ = ['../methods/corrclip.py']
# whole class names replaced in MESS's lists (read by sclip_toolkit.datasets.mess_configs)
mess_name_variants = dict(person='people')

# ClearCLIP on the MESS datasets (unseen domains: no reference config): the method's defaults from
# ../methods/clearclip.py (short side 448, crops 448/224, tau 50), as the toolkit uses them for any dataset without a
# reference config.
# MESS's class names are used as MESS gives them (one name per class, its background class 'background' /
# 'others' / ... scored by its name like any other class), and no probability threshold: the references tune it per
# shipped dataset to push unsure pixels into class 0, but MESS has no split to tune on, its background is not always
# class 0 (ISPRS Potsdam: 5, DRAM: 11) and BDD100K and ATLANTIS have none.
_base_ = ['../methods/clearclip.py']

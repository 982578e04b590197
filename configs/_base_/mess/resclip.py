# ResCLIP on the MESS datasets (unseen domains: no reference config): the dataset-free defaults of
# ../methods/resclip.py (its demo's temp_thd 0.10, RCS (2.0, 0.6), SFR (2.1, 0.6); crops 224/112, tau 40). No MESS
# dataset is close to one of the reference's tuned datasets, so none of their values is borrowed.
# MESS's class names are used as MESS gives them (one name per class, its background class 'background' /
# 'others' / ... scored by its name like any other class), and no probability threshold: the references tune it per
# shipped dataset to push unsure pixels into class 0, but MESS has no split to tune on, its background is not always
# class 0 (ISPRS Potsdam: 5, DRAM: 11) and BDD100K and ATLANTIS have none.
_base_ = ['../methods/resclip.py']

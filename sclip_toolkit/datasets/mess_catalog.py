"""The 22 MESS datasets (Blumenstiel et al., NeurIPS 2023 Datasets & Benchmarks; github.com/blumenstiel/MESS) as the
``mess-benchmark`` package (0.2) registers them: folders, file endings, classes of interest, background class, the
image counts its preparation checks, and the licences, pages and manual downloads its DATASETS.md lists.

Evaluation needs only this table and the class-name files ``configs/classnames/cls_mess_<key>.txt`` (written from the
package by tools/mess_classnames.py); tests check both against the installed package.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

__all__ = ['MESSSpec', 'MESS_DATASETS', 'MESS_DOMAINS', 'MESS_GROUPS', 'mess_spec']

# MESS's domains, in its table order.
MESS_DOMAINS = ('General', 'Earth Monitoring', 'Medical Sciences', 'Engineering', 'Agriculture and Biology')


@dataclass(frozen=True)
class MESSSpec:
    """One MESS evaluation set (a PAXRay subset is one set of its own).

    Attributes:
        key: the toolkit's name (``configs/_base_/datasets/mess_<key>.py``).
        mess_name: the name MESS registers (detectron2 catalog), e.g. 'floodnet_sem_seg_test'.
        label: the column title MESS's result tables use.
        domain: one of :data:`MESS_DOMAINS`.
        folder: the dataset's folder under the dataset directory (MESS's ``DETECTRON2_DATASETS``).
        img_dir / ann_dir: image and label-map folders under ``folder`` (read without sub-folders, as MESS does).
        img_suffix / seg_suffix: the file endings MESS matches (images and maps pair up by the name before them).
        num_classes: classes scored (label 255 is ignored).
        classes_of_interest: the classes MESS averages for CoI-mIoU (all but the background class).
        background_class: MESS's background class index (255: the dataset has none).
        num_images: the image count MESS's preparation checks.
        licence / page: as MESS's DATASETS.md lists them.
        manual: what must be downloaded by hand (an account or a form), and where it goes; empty when the package's
            preparation downloads everything itself.
        prepare: the package's preparation module (``mess.prepare_datasets.<prepare>``).
        group: sets that MESS reports as one column (the PAXRay subsets: 'PAXRay-4', their mean).
    """
    key: str
    mess_name: str
    label: str
    domain: str
    folder: str
    img_dir: str
    ann_dir: str
    img_suffix: str
    seg_suffix: str
    num_classes: int
    classes_of_interest: Tuple[int, ...]
    background_class: int
    num_images: int
    licence: str
    page: str
    prepare: str
    manual: str = ''
    group: Optional[str] = None

    @property
    def column(self) -> str:
        """The column of MESS's tables this set counts for (its group's, for the PAXRay subsets)."""
        return self.group or self.label


def _all_but(background: int, num_classes: int) -> Tuple[int, ...]:
    return tuple(i for i in range(num_classes) if i != background)


_D2 = ('images_detectron2/test', 'annotations_detectron2/test')
_PAXRAY_PAGE = 'https://constantinseibold.github.io/paxray/'


def _paxray(part: str, name: str) -> MESSSpec:
    return MESSSpec(f'paxray_{part}', f'paxray_sem_seg_test_{part}', f'PAXRay-{name}', 'Medical Sciences',
                    'paxray_dataset', 'images_detectron2/test', f'annotations_detectron2/test/{part}', 'png', 'png',
                    2, (1,), 0, 180, 'custom (citation requested)', _PAXRAY_PAGE, 'prepare_paxray', group='PAXRay-4')


_SPECS: List[MESSSpec] = [
    # General
    MESSSpec('bdd100k', 'bdd100k_sem_seg_val', 'BDD100K', 'General', 'bdd100k', 'images/10k/val',
             'annotations_detectron2/val', 'jpg', 'png', 19, tuple(range(19)), 255, 1000,
             'custom, non-commercial (https://doc.bdd100k.com/license.html)', 'https://bdd-data.berkeley.edu',
             'prepare_bdd100k', manual='bdd100k_images_10k.zip and bdd100k_sem_seg_labels_trainval.zip from '
             'https://bdd-data.berkeley.edu (account; "10K Images" and "Segmentation")'),
    MESSSpec('dark_zurich', 'dark_zurich_sem_seg_val', 'Dark Zurich', 'General', 'Dark_Zurich',
             'rgb_anon/val/night/GOPR0356', 'annotations_detectron2/val', '_rgb_anon.png', '_gt_labelIds.png', 20,
             _all_but(0, 20), 0, 50, 'custom, non-commercial (in the download)',
             'https://www.trace.ethz.ch/publications/2019/GCMA_UIoU/', 'prepare_dark_zurich'),
    MESSSpec('mhp_v1', 'mhp_v1_sem_seg_test', 'MHP v1', 'General', 'LV-MHP-v1', *_D2, 'jpg', 'png', 19,
             _all_but(0, 19), 0, 980, 'custom, non-commercial (https://lv-mhp.github.io/)',
             'https://github.com/ZhaoJ9014/Multi-Human-Parsing', 'prepare_mhp_v1'),
    MESSSpec('foodseg103', 'foodseg103_sem_seg_test', 'FoodSeg103', 'General', 'FoodSeg103', 'Images/img_dir/test',
             'Images/ann_dir/test', 'jpg', 'png', 104, _all_but(0, 104), 0, 2125, 'Apache-2.0',
             'https://xiongweiwu.github.io/foodseg103.html', 'prepare_foodseg'),
    MESSSpec('atlantis', 'atlantis_sem_seg_test', 'ATLANTIS', 'General', 'atlantis', *_D2, 'jpg', 'png', 56,
             tuple(range(56)), 255, 1295, 'custom (citation requested; images under the Flickr terms of use)',
             'https://github.com/smhassanerfani/atlantis', 'prepare_atlantis'),
    MESSSpec('dram', 'dram_sem_seg_test', 'DRAM', 'General', 'DRAM_processed', *_D2, 'jpg', 'png', 12,
             _all_but(11, 12), 11, 718, 'custom, non-commercial',
             'https://faculty.runi.ac.il/arik/site/artseg/Dram-Dataset.html', 'prepare_dram'),
    # Earth monitoring
    MESSSpec('isaid', 'isaid_sem_seg_val', 'iSAID', 'Earth Monitoring', 'isaid', 'images_detectron2/val',
             'annotations_detectron2/val', 'png', 'png', 16, _all_but(0, 16), 0, 4055, 'custom, non-commercial',
             'https://captain-whu.github.io/iSAID/dataset.html', 'prepare_isaid'),
    MESSSpec('isprs_potsdam', 'isprs_potsdam_sem_seg_test_irrg', 'ISPRS Potsdam', 'Earth Monitoring', 'ISPRS_Potsdam',
             'images_detectron2/test/irrg', 'annotations_detectron2/test', 'png', 'png', 6, _all_but(5, 6), 5, 504,
             'undefined', 'https://www.isprs.org/education/benchmarks/UrbanSemLab/default.aspx',
             'prepare_isprs_potsdam', manual='Potsdam.zip from '
             'https://www.isprs.org/education/benchmarks/UrbanSemLab/default.aspx (request form)'),
    MESSSpec('worldfloods', 'worldfloods_sem_seg_test_irrg', 'WorldFloods', 'Earth Monitoring', 'WorldFloods',
             'images_detectron2/test/irrg', 'annotations_detectron2/test', 'png', 'png', 3, (1,), 0, 160,
             'CC BY-NC 4.0', 'https://spaceml-org.github.io/ml4floods/content/worldfloods_dataset.html',
             'prepare_worldfloods'),
    MESSSpec('floodnet', 'floodnet_sem_seg_test', 'FloodNet', 'Earth Monitoring', 'FloodNet-Supervised_v1.0', *_D2,
             '.jpg', '.png', 10, (1, 3), 0, 5571, 'CDLA-Permissive-1.0',
             'https://github.com/BinaLab/FloodNet-Supervised_v1.0', 'prepare_floodnet',
             manual='the FloodNet-Supervised_v1.0 folder (or its test folder) from '
             'https://drive.google.com/drive/folders/1leN9eWVQcvWDVYwNb2GCo5ML_wBEycWD (Google Drive)'),
    MESSSpec('uavid', 'uavid_sem_seg_val', 'UAVid', 'Earth Monitoring', 'uavid_v1.5', 'images_detectron2/val',
             'annotations_detectron2/val', 'png', 'png', 8, _all_but(0, 8), 0, 840, 'CC BY-NC-SA 4.0',
             'https://uavid.nl', 'prepare_uavid',
             manual='uavid_v1.5_official_release_image.zip from https://uavid.nl (account; "Semantic Labelling with '
             'Images Only")'),
    # Medical sciences
    MESSSpec('kvasir_instrument', 'kvasir_instrument_sem_seg_test', 'Kvasir-Instrument', 'Medical Sciences',
             'kvasir-instrument', *_D2, 'png', 'png', 2, (1,), 0, 118, 'custom, non-commercial',
             'https://datasets.simula.no/kvasir-instrument/', 'prepare_kvasir_instrument'),
    MESSSpec('chase_db1', 'chase_db1_sem_seg_test', 'CHASE DB1', 'Medical Sciences', 'CHASEDB1', *_D2, 'jpg', 'png',
             2, (1,), 0, 20, 'CC BY 4.0', 'https://blogs.kingston.ac.uk/retinal/chasedb1/', 'prepare_chase_db1'),
    MESSSpec('cryonuseg', 'cryonuseg_sem_seg_test', 'CryoNuSeg', 'Medical Sciences', 'CryoNuSeg',
             'images_detectron2', 'annotations_detectron2', 'png', 'png', 2, (1,), 0, 30, 'CC BY-NC-SA 4.0',
             'https://www.kaggle.com/datasets/ipateam/segmentation-of-nuclei-in-cryosectioned-he-images',
             'prepare_cryonuseg', manual='the Kaggle download, unpacked as a folder named archive (account; '
             'https://www.kaggle.com/datasets/ipateam/segmentation-of-nuclei-in-cryosectioned-he-images)'),
    _paxray('lungs', 'Lungs'), _paxray('bones', 'Bones'), _paxray('mediastinum', 'Mediastinum'),
    _paxray('diaphragm', 'Diaphragm'),
    # Engineering
    MESSSpec('corrosion_cs', 'corrosion_cs_sem_seg_test', 'Corrosion CS', 'Engineering',
             'Corrosion Condition State Classification', 'original/Test/images', 'original/Test/masks', 'jpeg', 'png',
             4, (1, 2, 3), 0, 44, 'CC0',
             'https://figshare.com/articles/dataset/Corrosion_Condition_State_Semantic_Segmentation_Dataset/16624663',
             'prepare_corrosion_cs'),
    MESSSpec('deepcrack', 'deepcrack_sem_seg_test', 'DeepCrack', 'Engineering', 'DeepCrack', 'test_img',
             'annotations_detectron2/test', 'jpg', 'png', 2, (1,), 0, 237, 'custom (citation requested)',
             'https://github.com/yhlleo/DeepCrack', 'prepare_deepcrack'),
    MESSSpec('pst900', 'pst900_sem_seg_test', 'PST900', 'Engineering', 'PST900_RGBT_Dataset', 'test/thermal',
             'test/labels', 'png', 'png', 5, (1, 2, 3, 4), 0, 288, 'GPL-3.0',
             'https://github.com/ShreyasSkandanS/pst900_thermal_rgb', 'prepare_pst900'),
    MESSSpec('zerowaste', 'zerowaste_sem_seg_test', 'ZeroWaste-f', 'Engineering', 'zerowaste-f',
             'splits_final_deblurred/test/data', 'splits_final_deblurred/test/sem_seg', 'PNG', 'PNG', 5, (1, 2, 3, 4),
             0, 929, 'CC BY-NC 4.0', 'http://ai.bu.edu/zerowaste/', 'prepare_zerowaste'),
    # Agriculture and biology
    MESSSpec('suim', 'suim_sem_seg_test', 'SUIM', 'Agriculture and Biology', 'SUIM', 'TEST/images',
             'annotations_detectron2/test', 'jpg', 'png', 8, _all_but(0, 8), 0, 110, 'unknown or MIT',
             'https://irvlab.cs.umn.edu/resources/suim-dataset', 'prepare_suim'),
    MESSSpec('cub_200', 'cub_200_sem_seg_test', 'CUB-200', 'Agriculture and Biology', 'CUB_200_2011', *_D2, 'jpg',
             'png', 201, _all_but(0, 201), 0, 5794, 'custom, non-commercial',
             'https://www.vision.caltech.edu/datasets/cub_200_2011/', 'prepare_cub_200'),
    MESSSpec('cwfid', 'cwfid_sem_seg_test', 'CWFID', 'Agriculture and Biology', 'cwfid', 'images',
             'annotations_detectron2/test', 'image.png', 'annotation.png', 3, (1, 2), 0, 21,
             'custom, non-commercial', 'https://github.com/cwfid/dataset', 'prepare_cwfid'),
]

MESS_DATASETS: Dict[str, MESSSpec] = {spec.key: spec for spec in _SPECS}
# Column -> the sets MESS averages into it (only PAXRay-4 has several).
MESS_GROUPS: Dict[str, Tuple[str, ...]] = {}
for _spec in _SPECS:
    MESS_GROUPS.setdefault(_spec.column, ())
    MESS_GROUPS[_spec.column] += (_spec.key,)


def mess_spec(key: str) -> MESSSpec:
    """The spec of a MESS set by its toolkit name ('floodnet', 'paxray_lungs'); a one-line error lists the names."""
    from ..exceptions import ConfigError

    key = key[len('mess_'):] if key.startswith('mess_') else key
    if key not in MESS_DATASETS:
        raise ConfigError(f'unknown MESS dataset {key!r}; valid: {", ".join(MESS_DATASETS)}')
    return MESS_DATASETS[key]

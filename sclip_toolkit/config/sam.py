"""Command-line options for the configs that use SAM (Trident): ``--sam-checkpoint FILE`` and ``--sam-refine``."""
from __future__ import annotations

from typing import List, Optional

from mmengine.config import Config, ConfigDict

from ..exceptions import ConfigError

SAM_PARTS = ('SAMAffinity', 'SAMRefinement')


def sam_parts(cfg: Config) -> List[ConfigDict]:
    """The config nodes of the parts that load SAM weights (the affinity source, the refinement step)."""
    model = cfg.get('model') or {}
    nodes = [(model.get('inference') or {}).get('affinity')] + list(model.get('post_process') or [])
    return [n for n in nodes if isinstance(n, dict) and n.get('type') in SAM_PARTS]


def apply_sam_options(cfg: Config, name: str, checkpoint: Optional[str], refine: bool) -> None:
    """Point every SAM part at ``checkpoint`` (SAM's published layout) and/or enable the SAM refinement step (added
    with Trident's default settings where the config has none, as the method bases)."""
    parts = sam_parts(cfg)
    if not parts:
        flag = '--sam-checkpoint' if checkpoint else '--sam-refine'
        raise ConfigError(f'{flag} was given but {name} uses no SAM (only the trident configs do)')
    if checkpoint:
        for node in parts:
            node['checkpoint'] = str(checkpoint)
    if refine:
        steps = [n for n in parts if n['type'] == 'SAMRefinement']
        if not steps:  # a method base: the step with Trident's defaults (VOC's coarse_thresh 0.2), on the same SAM
            affinity = parts[0]
            steps = [ConfigDict(type='SAMRefinement', model_type=affinity.get('model_type', 'vit_b'),
                                checkpoint=affinity.get('checkpoint'))]
            cfg.model.post_process = list(cfg.model.get('post_process') or []) + steps
        for node in steps:
            node['enabled'] = True

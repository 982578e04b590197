"""Models: the CLIP wrapper, attention variants, the parts and the segmentor (importing registers them in MODELS)."""
from .attention import AttnContext, FinalAttention, Recording, attention_variants, build_attention, register_attention
from .attention import ProxyAttention, SCCLIPAttention  # noqa: F401  (registration)
from .clip import CLIPBackbone
from .heads import ClassifierHead, CosineHead, RFCLIPHead
from .inference import SlideInference, SplicedInference, StitchedInference, WholeInference
from .postprocess import PAMR, AreaThreshold, PostProcessStep, ProbThreshold, RegionVote, Renormalize, SAMRefinement
from .regions import PrecomputedMasks, RegionGenerator, RegionMap, SAM2Masks
from .segmentor import OVSegmentor
from .text import ClassEmbeddings, CLIPTextClassifier
from .vfm import SAMAffinity, VFMFeatures

__all__ = ['AttnContext', 'FinalAttention', 'Recording', 'attention_variants', 'build_attention',
           'register_attention', 'ProxyAttention', 'SCCLIPAttention', 'CLIPBackbone', 'ClassifierHead', 'CosineHead',
           'RFCLIPHead', 'SlideInference', 'StitchedInference', 'WholeInference', 'PAMR', 'AreaThreshold',
           'PostProcessStep',
           'ProbThreshold', 'RegionVote', 'Renormalize', 'PrecomputedMasks', 'RegionGenerator', 'RegionMap',
           'SAM2Masks',
           'OVSegmentor', 'ClassEmbeddings', 'CLIPTextClassifier', 'VFMFeatures', 'SAMAffinity', 'SAMRefinement',
           'SplicedInference']

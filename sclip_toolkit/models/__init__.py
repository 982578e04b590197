"""Models: the CLIP wrapper, attention variants and the segmentor (importing registers them in mmseg's MODELS)."""
from .attention import ATTENTION_ALIASES, AttnContext, FinalAttention, build_attention, register_attention
from .clip import CLIPBackbone
from .proxy import ProxyAttention
from .scclip import SCCLIPAttention
from .segmentor import OVSegmentor
from .vfm import VFMFeatures

__all__ = ['ATTENTION_ALIASES', 'AttnContext', 'FinalAttention', 'build_attention', 'register_attention',
           'CLIPBackbone', 'OVSegmentor', 'SCCLIPAttention',
           'ProxyAttention', 'VFMFeatures']

"""Final-block attention variants, one registered class each (importing this package registers them all)."""
from .base import (AttnContext, BlockRecord, FinalAttention, Recording, attention_variants, build_attention,
                   merge_heads, qkv_projection, register_attention, residual_and_ffn, run_block_recorded,
                   split_heads)
from .corrclip import CorrCLIPAttention
from .ovstitcher import OVStitcherAttention
from .proxy import ProxyAttention
from .resclip import ResCLIPAttention
from .rfclip import RFCLIPAttention
from .scclip import SCCLIPAttention
from .variants import (ClearCLIPAttention, MaskCLIPAttention, NACLIPAttention, SCLIPAttention, VanillaAttention,
                       gaussian_window_bias)

__all__ = ['AttnContext', 'BlockRecord', 'FinalAttention', 'Recording', 'attention_variants', 'build_attention',
           'merge_heads', 'qkv_projection', 'register_attention', 'residual_and_ffn', 'run_block_recorded',
           'split_heads', 'CorrCLIPAttention',
           'OVStitcherAttention', 'ProxyAttention', 'ResCLIPAttention', 'RFCLIPAttention',
           'SCCLIPAttention', 'ClearCLIPAttention', 'MaskCLIPAttention', 'NACLIPAttention', 'SCLIPAttention',
           'VanillaAttention', 'gaussian_window_bias']

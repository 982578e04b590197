"""Stage hooks: the public stages the segmentor and its parts run, for tools that time or record them.

A stage is a named piece of the path from image to labels ('clip.encode_dense', 'inference.encode', 'scoring.scores',
...; :data:`STAGES`). The code that runs it marks it, with :func:`staged` on a method or :func:`stage` around a call;
a hook added with :func:`add_stage_hook` is told when each stage starts (with the call's owner and arguments, where a
method is marked) and ends, as ``torch.nn.Module.register_forward_pre_hook`` / ``register_forward_hook`` or mmengine's
runner hooks are. Parts whose stage is their ``forward`` (post-processing steps, the VFM, the region generator, the
text encoder) are hooked with PyTorch's own forward hooks instead. Without a hook a stage costs one check of a list.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

# Every stage that is marked, and what it covers.
STAGES: Dict[str, str] = {
    'segmentor.predict': 'OVSegmentor.predict: a batch, from preprocessed images to the filled data samples',
    'inference.encode': 'WindowInference.encode: cutting, padding and encoding the windows of one image',
    'inference.splice': "SplicedInference: the windows' token maps placed and averaged on the whole-image grid",
    'inference.aggregate': "SplicedInference: the spliced map mixed by SAM's affinity, then ln_post and projection",
    'clip.encode_dense': 'CLIPBackbone.encode_dense: one batch of windows (or images) through the encoder',
    'vfm.stitched': "StitchedInference: the VFM's windows and its last block over the whole image",
    'final_attn.stitched': "a variant's own stitched forward (with 'final_attn.windows' inside it)",
    'final_attn.windows': "the windows' CLIP blocks that a variant's stitched forward runs itself",
    'head.prepare': "the classification head's per-image work before decoding",
    'scoring.logits': 'logits of some names at the original size, after the logits-stage steps',
    'inference.source': 'the map the last resize starts from (window logits averaged), or rows of it',
    'inference.grid': 'window features x names -> logits on the patch grid (and their upsampling)',
    'scoring.scores': 'the dense path: softmax over names, max over each class, the scores-stage steps',
    'scores.labels': 'the final label map of a score map',
    'scoring.check_finite': 'the check that the scores hold no NaN or inf',
}


class StageHook:
    """Base class of a stage hook; both methods do nothing by default.

    ``before`` gets the stage name, the object whose method runs (None for a marked block without one) and the
    call's positional and keyword arguments (empty for a marked block); ``after`` the name and the owner.
    """

    def before(self, name: str, owner: Any, args: tuple, kwargs: dict) -> None:
        pass

    def after(self, name: str, owner: Any) -> None:
        pass


_HOOKS: List[StageHook] = []


class StageHookHandle:
    """Removes its hook (:meth:`remove`), as a ``torch.utils.hooks.RemovableHandle`` does."""

    def __init__(self, hook: StageHook):
        self.hook = hook

    def remove(self) -> None:
        if self.hook in _HOOKS:
            _HOOKS.remove(self.hook)


def add_stage_hook(hook: StageHook) -> StageHookHandle:
    """Tell ``hook`` about every marked stage from now on, until the handle's ``remove()``."""
    _HOOKS.append(hook)
    return StageHookHandle(hook)


@contextmanager
def stage_hooks(*hooks: StageHook) -> Iterator[None]:
    """The hooks while the block runs."""
    handles = [add_stage_hook(h) for h in hooks]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _enter(name: str, owner: Any, args: tuple, kwargs: dict) -> List[StageHook]:
    hooks = list(_HOOKS)
    for hook in hooks:
        hook.before(name, owner, args, kwargs)
    return hooks


def _leave(name: str, owner: Any, hooks: List[StageHook]) -> None:
    for hook in reversed(hooks):
        hook.after(name, owner)


@contextmanager
def stage(name: str, owner: Optional[Any] = None) -> Iterator[None]:
    """Mark the block as the stage ``name`` (see :data:`STAGES`)."""
    if not _HOOKS:
        yield
        return
    hooks = _enter(name, owner, (), {})
    try:
        yield
    finally:
        _leave(name, owner, hooks)


def staged(name: str) -> Callable[[Callable], Callable]:
    """Mark every call of the decorated method as the stage ``name``; hooks get its owner and arguments."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            if not _HOOKS:
                return method(self, *args, **kwargs)
            hooks = _enter(name, self, args, kwargs)
            try:
                return method(self, *args, **kwargs)
            finally:
                _leave(name, self, hooks)
        return run

    return decorate

"""Attaching the measuring tools to a segmentor: its public stages (``sclip_toolkit.models.stages``) and the forward
hooks of its parts, nothing patched.

Every stage a segmentor runs reaches a callback as a name and an owner: the marked stages by their names
(:data:`~sclip_toolkit.models.stages.STAGES`), and the parts whose stage is their ``forward`` as 'text_encoder',
'vfm', 'region_generator', 'final_attn' and 'step' (a post-processing step, the owner).
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple

import torch

from sclip_toolkit.models.stages import StageHook, stage_hooks

Call = Tuple[Callable, tuple, dict]


def forward_parts(model) -> List[Tuple[str, torch.nn.Module]]:
    """(name, part) of the segmentor's parts whose stage is their forward."""
    parts = [('text_encoder', model.text_encoder), ('final_attn', model.clip.final_attn)]
    if model.clip.vfm is not None:
        parts.append(('vfm', model.clip.vfm))
    if model.region_generator is not None:
        parts.append(('region_generator', model.region_generator))
    parts.extend(('step', step) for step in model.post_process)
    return parts


class _KeyedClock(StageHook):
    """Opens ``clock``'s stage ``key(name, owner)`` around every stage that has a key (None: not timed apart)."""

    def __init__(self, clock, key: Callable[[str, Any], Optional[str]]):
        self.clock, self.key, self.open = clock, key, []

    def before(self, name: str, owner: Any, args: tuple = (), kwargs: Optional[dict] = None) -> None:
        key = self.key(name, owner)
        self.open.append(key)
        if key is not None:
            self.clock.enter(key)

    def after(self, name: str, owner: Any) -> None:
        if self.open.pop() is not None:
            self.clock.leave()


@contextmanager
def timed_stages(model, clock, key: Callable[[str, Any], Optional[str]]) -> Iterator[None]:
    """While the block runs, ``clock.enter(key(stage, owner))`` and ``clock.leave()`` around every stage of
    ``model``'s path that ``key`` names (a clock with ``enter``/``leave``: ``StageClock``, ``InclusiveTimes``)."""
    hook = _KeyedClock(clock, key)
    with ExitStack() as stack:
        for name, part in forward_parts(model):
            stack.callback(part.register_forward_pre_hook(
                lambda module, args, name=name: hook.before(name, module)).remove)
            stack.callback(part.register_forward_hook(
                lambda module, args, output, name=name: hook.after(name, module)).remove)
        stack.enter_context(stage_hooks(hook))
        yield


class _Recorder(StageHook):
    def __init__(self, calls: List[Call]):
        self.calls = calls

    def before(self, name: str, owner: Any, args: tuple, kwargs: dict) -> None:
        if name == 'clip.encode_dense':
            self.calls.append((owner.encode_dense, args, kwargs))


@contextmanager
def recorded_encoder_calls(model, calls: List[Call]) -> Iterator[None]:
    """Record every encoder call (the 'clip.encode_dense' stage: CLIP and VFM; the region generator's forward) with
    its inputs, in order."""
    with ExitStack() as stack:
        if model.region_generator is not None:
            generator = model.region_generator
            stack.callback(generator.register_forward_pre_hook(
                lambda module, args, kwargs: calls.append((module.forward, args, kwargs)), with_kwargs=True).remove)
        stack.enter_context(stage_hooks(_Recorder(calls)))
        yield


def replay(calls: List[Call]) -> None:
    """Run recorded encoder calls again, alone (a fresh ``extras`` dict where the call had one)."""
    for fn, args, kwargs in calls:
        fn(*args, **{k: ({} if k == 'extras' and v is not None else v) for k, v in kwargs.items()})

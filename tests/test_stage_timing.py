"""The stage clock gives every moment to the innermost open stage; hooks wrap and restore attributes."""
from __future__ import annotations

import types

from sclip_toolkit.bench.clock import StageClock, wrapped


class FakeClock:
    """Time moves only when a test says so."""

    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_nested_stages_get_their_own_time_only():
    now = FakeClock()
    clock = StageClock(now)
    with clock.stage('outer'):
        now.t += 1.0
        with clock.stage('inner'):
            now.t += 2.0
            with clock.stage('outer'):  # re-entering a stage adds to it
                now.t += 0.5
        now.t += 0.25
    with clock.stage('inner'):
        now.t += 4.0
    assert clock.totals == {'outer': 1.75, 'inner': 6.0}
    assert sum(clock.totals.values()) == now.t


def test_hook_times_every_call_and_keeps_the_result():
    now = FakeClock()
    clock = StageClock(now)

    def work(x):
        now.t += x
        return 2 * x

    timed = clock.hook('work')(work)
    assert timed(3.0) == 6.0 and timed(1.0) == 2.0
    assert clock.totals == {'work': 4.0}


def test_wrapped_restores_instance_class_and_module_attributes():
    class Part:
        def run(self):
            return 'class'

    part = Part()
    module = types.SimpleNamespace(fn=lambda: 'module')
    double = lambda original: (lambda *a: original(*a) * 2)  # noqa: E731
    with wrapped(part, 'run', double), wrapped(module, 'fn', double):
        assert part.run() == 'classclass' and module.fn() == 'modulemodule'
    assert part.run() == 'class' and 'run' not in vars(part) and module.fn() == 'module'
    with wrapped(Part, 'run', double):
        assert Part().run() == 'classclass'
    assert Part().run() == 'class'

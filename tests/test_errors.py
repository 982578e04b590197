"""Unknown names list the valid ones; the scripts turn user errors into one line and exit code 2."""
from __future__ import annotations

from pathlib import Path

import pytest

from sclip_toolkit.config import load_config
from sclip_toolkit.datasets.loading import ImageLoadError
from sclip_toolkit.cli import run_cli
from sclip_toolkit.exceptions import ConfigError
from sclip_toolkit.models.checkpoint import CheckpointError
from sclip_toolkit.models.text import ClassNameError


def test_unknown_config_suggests_the_closest_configs():
    with pytest.raises(FileNotFoundError) as err:
        load_config('sclip_voc99')
    text = str(err.value)
    assert 'closest: sclip_voc21, sclip_voc20' in text and 'naclip/naclip_ade20k' not in text


def test_run_cli_reports_ctrl_c_in_one_line(capsys):
    def main():
        raise KeyboardInterrupt

    assert run_cli(main, 'prog') == 130
    assert capsys.readouterr().err.strip() == 'prog: interrupted'


def test_run_cli_words_the_message_for_the_script(capsys):
    def main():
        raise ConfigError('use device="cpu"')

    assert run_cli(main, 'demo.py', words=lambda m: m.replace('device="cpu"', '--device cpu')) == 2
    assert capsys.readouterr().err.strip() == 'demo.py: error: use --device cpu'


def test_unknown_dataset_in_eval_all_lists_datasets():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, 'tools/eval_all.py', '--pairs', 'sclip:voc99'], capture_output=True,
                          text=True, timeout=120, cwd=root)
    assert proc.returncode != 0
    assert "unknown dataset(s) ['voc99']" in proc.stderr + proc.stdout and 'ade847' in proc.stderr + proc.stdout


@pytest.mark.parametrize('exc, text', [
    (CheckpointError('CLIP weights not found at /x/ViT-B-16.pt'), 'CLIP weights not found at /x/ViT-B-16.pt'),
    (ClassNameError('f.txt:3: empty line'), 'f.txt:3: empty line'),
    (ConfigError("unknown attention variant 'x'; valid: sclip"), "unknown attention variant 'x'; valid: sclip"),
    (FileNotFoundError("config 'x' not found"), "config 'x' not found"),
])
def test_run_cli_prints_one_line_and_exits_2(capsys, exc, text):
    def main():
        raise exc

    assert run_cli(main, 'prog') == 2
    err = capsys.readouterr().err
    assert err.strip() == f'prog: error: {text}' and 'Traceback' not in err


def test_run_cli_keeps_worker_errors_short(capsys):
    def main():  # torch re-raises a worker's exception with its own type and the worker's traceback as text
        raise ImageLoadError('Caught ImageLoadError in DataLoader worker process 0.\nOriginal Traceback (most recent '
                         'call last):\n  File "x.py", line 1\nsclip_toolkit.ImageLoadError: /d/a.jpg: the JPEG file '
                         'is truncated')

    assert run_cli(main, 'eval.py') == 2
    assert capsys.readouterr().err.strip() == 'eval.py: error: /d/a.jpg: the JPEG file is truncated'


@pytest.mark.parametrize('bug', [ZeroDivisionError('a bug'), ValueError('shape mismatch'), KeyError('x'),
                                 RuntimeError('mat1 and mat2 shapes cannot be multiplied')])
def test_run_cli_lets_bugs_raise(bug):
    """Only the toolkit's own error types are one-line user errors: a researcher's shape bug keeps its traceback."""
    def main():
        raise bug

    with pytest.raises(type(bug)):
        run_cli(main, 'prog')


def test_sigterm_is_reported_as_an_interruption_with_exit_143(capsys):
    """Issue 22, case 7: SIGTERM unwinds as Ctrl-C does (partial files removed, the resume message printed)."""
    import os
    import signal
    import time

    from sclip_toolkit.evaluation import EvaluationInterrupted

    def main():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises during the sleep
        except KeyboardInterrupt as exc:  # as ResumableTestLoop does, keeping the exit code
            error = EvaluationInterrupted('terminated (SIGTERM); 3 predictions saved in p: run it again to resume')
            error.exit_code = exc.exit_code
            raise error from None

    before = signal.getsignal(signal.SIGTERM)
    assert run_cli(main, 'eval.py') == 143
    assert capsys.readouterr().err.strip() == ('eval.py: terminated (SIGTERM); 3 predictions saved in p: run it again '
                                               'to resume')
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the script's only while it runs
    assert run_cli(lambda: 3, 'prog') == 3 and run_cli(lambda: None, 'prog') == 0  # main's exit status

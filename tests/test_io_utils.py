"""Atomic writes: a file appears whole or not at all, a failed write is one line naming the file and the reason."""
from __future__ import annotations

import errno
import os
import subprocess
import tempfile

import pytest
from PIL import Image

from sclip_toolkit.cli.run import run_cli
from sclip_toolkit.io_utils import WriteError, atomic_open, atomic_save, atomic_write, check_writable_dir, save_image


def _full_disk_after(limit: int):
    """A writer that writes ``limit`` bytes, then fails as a full disk does."""
    def save(fh):
        fh.write(b'x' * limit)
        raise OSError(errno.ENOSPC, 'No space left on device')
    return save


def test_write_then_replace_keeps_the_usual_mode(tmp_path):
    target = tmp_path / 'out.json'
    atomic_write(target, '{"a": 1}')
    atomic_write(target, '{"a": 2}')
    assert target.read_text() == '{"a": 2}'
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    assert [p.name for p in tmp_path.iterdir()] == ['out.json']


def test_full_disk_leaves_no_partial_file_and_keeps_the_old_version(tmp_path):
    target = tmp_path / 'metrics.json'
    target.write_text('old')
    with pytest.raises(WriteError) as err:
        atomic_save(target, _full_disk_after(100))
    assert str(err.value) == f'could not write {target}: no space left on the device'
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    assert target.read_text() == 'old' and [p.name for p in tmp_path.iterdir()] == ['metrics.json']
    with pytest.raises(WriteError):
        atomic_save(tmp_path / 'new.png', _full_disk_after(0))
    assert not (tmp_path / 'new.png').exists() and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize('code, reason', [(errno.EROFS, 'read-only file system'), (errno.EACCES, 'permission denied')])
def test_unwritable_folder_is_named_with_the_reason(tmp_path, monkeypatch, code, reason):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, 'mkstemp', refuse)
    with pytest.raises(WriteError, match=f'^could not write {tmp_path / "a.png"}: {reason}$'):
        atomic_write(tmp_path / 'a.png', b'png')
    with pytest.raises(WriteError) as err:
        check_writable_dir(tmp_path / 'out', '--out out')
    assert str(err.value) == f'cannot write to --out out: {reason}'
    assert run_cli(lambda: check_writable_dir(tmp_path, '--work-dir w'), 'eval.py') == 2  # one line, exit 2


def test_interrupted_writer_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(tmp_path / 'a.txt', 'w') as fh:
            fh.write('half')
            raise KeyboardInterrupt
    assert not list(tmp_path.iterdir())


def test_save_image_picks_the_format_from_the_suffix(tmp_path):
    picture = Image.new('RGB', (3, 2), (10, 20, 30))
    save_image(tmp_path / 'a.png', picture)
    save_image(tmp_path / 'b.jpg', picture)
    assert Image.open(tmp_path / 'a.png').format == 'PNG' and Image.open(tmp_path / 'b.jpg').format == 'JPEG'


def test_check_writable_dir_creates_it_and_refuses_a_file(tmp_path):
    assert check_writable_dir(tmp_path / 'x' / 'y', '--out').is_dir()
    (tmp_path / 'f').write_text('')
    with pytest.raises(WriteError, match='is a file'):
        check_writable_dir(tmp_path / 'f', '--out f')


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 64 KiB tmpfs when this machine lets us mount one (root with CAP_SYS_ADMIN); skipped elsewhere."""
    mount = tmp_path / 'tiny'
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip('cannot mount a tmpfs here')
    try:
        yield mount
    finally:
        subprocess.run(['umount', str(mount)], capture_output=True)


def test_real_full_disk(small_tmpfs):
    with pytest.raises(WriteError, match='no space left on the device'):
        atomic_write(small_tmpfs / 'big.bin', os.urandom(256 << 10))
    assert not list(small_tmpfs.iterdir())

"""Build step that copies the data folders (configs/, prompts/) into the wheel as ``sclip_toolkit/_data``.

Everything else is in pyproject.toml; editable installs read the folders from the checkout instead.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_FOLDERS = ('configs', 'prompts')


class BuildWithData(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / 'sclip_toolkit' / '_data'
        for folder in DATA_FOLDERS:
            shutil.rmtree(target / folder, ignore_errors=True)
            shutil.copytree(root / folder, target / folder, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


setup(cmdclass={'build_py': BuildWithData})

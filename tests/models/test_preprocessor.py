"""OVSDataPreProcessor refuses impossible sizes when it is built, naming the setting."""
from __future__ import annotations

import pytest

from sclip_toolkit.models.preprocessor import OVSDataPreProcessor


@pytest.mark.parametrize('kwargs, key', [(dict(short_side=-5), 'short_side'), (dict(short_side=0), 'short_side'),
                                         (dict(max_long_side=0), 'max_long_side')])
def test_non_positive_sizes_are_refused(kwargs, key):
    with pytest.raises(ValueError) as err:
        OVSDataPreProcessor(**kwargs)
    assert f'{key} (model.data_preprocessor.{key}) must be a positive number of pixels' in str(err.value)


def test_no_resize_and_positive_sizes_are_accepted():
    assert OVSDataPreProcessor(short_side=None).short_side is None
    assert OVSDataPreProcessor(short_side=224, max_long_side=512).max_long_side == 512

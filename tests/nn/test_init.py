import math

import numpy as np
import pytest

from cnnsweep.nn.init import init_weights, weight_std


def test_weight_std_by_name_and_alias():
    assert weight_std("std", 100, std=0.01) == 0.01
    assert weight_std(0.05, 100) == 0.05
    assert weight_std("xavier", 100) == pytest.approx(math.sqrt(1 / 100))
    assert weight_std("sigmoid", 100) == weight_std("xavier", 100)
    assert weight_std("he", 75) == pytest.approx(math.sqrt(2 / 75))
    assert weight_std("relu", 75) == weight_std("he", 75)


def test_unknown_init_names_the_choices():
    with pytest.raises(ValueError, match="unknown weight init 'lecun'; choose one of std, xavier"):
        weight_std("lecun", 10)


def test_init_weights_has_the_requested_spread_and_dtype():
    w = init_weights((500, 400), 500, "he", 0.01, np.random.default_rng(0), np.float32)
    assert w.dtype == np.float32
    assert w.std() == pytest.approx(math.sqrt(2 / 500), rel=0.01)

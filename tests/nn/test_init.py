import math

import numpy as np
import pytest

from cnnsweep.nn.init import WeightInit


def test_scale_by_name_or_number():
    assert WeightInit("std", 0.01).scale(100) == 0.01
    assert WeightInit.of(0.05).scale(100) == 0.05
    assert WeightInit.of("xavier").scale(100) == pytest.approx(math.sqrt(1 / 100))
    assert WeightInit.of("he").scale(75) == pytest.approx(math.sqrt(2 / 75))
    assert WeightInit.of(WeightInit("he")) == WeightInit("he")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "lecun"}, "name='lecun' is not one of std, xavier, he"),
    ({"std": 0.0}, "std=0.0 must be a positive number"),
    ({"std": float("nan")}, "std=nan must be a positive number"),
])
def test_bad_values_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WeightInit(**kwargs)


def test_weights_have_the_requested_spread_and_dtype():
    w = WeightInit("he").weights((500, 400), 500, np.random.default_rng(0), np.float32)
    assert w.dtype == np.float32
    assert w.std() == pytest.approx(math.sqrt(2 / 500), rel=0.01)

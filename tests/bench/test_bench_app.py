"""The app benchmark's floors: canned outputs equal to the real ones, and the app left untouched."""

import numpy as np

from ddpm.bench import app as bench
from ddpm.views import forward as forward_view
from ddpm.views.digits import default_digit


def handler(demo, api_name):
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == api_name)


def test_the_floor_in_our_page_looks_up_the_real_outputs_and_restores_the_handler():
    real = forward_view.forward
    demo = bench.floor_in_our_page()
    assert forward_view.forward is real  # the app built afterwards gets the real handler again
    lookup = handler(demo, "forward")
    assert lookup is not real
    for t in (100, 169, 250, 299):
        canned, computed = lookup(default_digit(), t, 0), real(default_digit(), t, 0)
        assert len(canned) == len(computed) == 7
        for a, b in zip(canned, computed, strict=True):
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b

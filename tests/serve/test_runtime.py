"""The runtime's shared objects: a subset's true reverse."""

import torch

from ddpm.serve import compute, runtime


def test_a_subsets_true_reverse_is_that_of_the_first_training_digits_and_the_whole_set_the_batched_one():
    full = runtime.true_reverse()
    n = full.images.shape[0]
    assert runtime.true_reverse(n) is full and runtime.true_reverse(None) is full  # all: the batched one
    ten = runtime.true_reverse(10)
    assert ten is not full and ten.images.shape[0] == 10 and ten.diffusion is full.diffusion
    assert torch.equal(ten.images.reshape(10, -1), full.images[:10].reshape(10, -1))
    assert compute.SCHEDULER.tasks() == 0

"""Toy worlds where the reverse process is exact: data so small that nothing is intractable.

- :mod:`.line`: 1-D Gaussian mixtures and the true reverse step q(x_{t−1} | x_t) for any number
  of steps T (the "small steps" lesson).
- :mod:`.plane`: 2-D data (points or a Gaussian mixture) with its exact density, score, ε̂,
  posterior over the data and true reverse step for any step size, and samplers for particles
  (ancestral, DDIM with η) that run on the exact field or on a learned one.
- :mod:`.mlp`: the small ε-network of the 2-D world, its training and its shipped checkpoints.
"""

"""What the teaching views show, computed from the core: one module per lesson, no UI code.

The app speaks the paper's language: a timestep ``t`` here is the paper's t ∈ 0 … T, where t = 0
is the clean digit x_0 and t ≥ 1 is x_t. In the core the same step is the 0-based index t − 1
(see :mod:`ddpm.diffusion`); :mod:`.common` does that conversion, and draws the seeded noise that
makes every view reproducible, once for all lessons. Images are [B, 1, 28, 28] in [−1, 1].

=========================  ===========================================================
module                     lesson
=========================  ===========================================================
:mod:`.forward`            q(x_t | x_0) term by term, and the schedule's values at t
:mod:`.reverse`            exact q(x_{t−1} | x_t, x_0) beside learned p_θ, same x_t, same z
:mod:`.schedules`          linear vs cosine: ᾱ_t, log SNR and where SNR = 1
:mod:`.parameterizations`  one network output read as ε, x_0 and v; σ² = β̃_t or β_t
:mod:`.likelihood`         the variational bound of one digit, term by term, in bits/dim
:mod:`.pasts`              one noisy x_t, many learned pasts
:mod:`.readout`            the digit classifier reading x̂_0 along a chain
:mod:`.noise_error`        where noise prediction is hard: E‖ε − ε_θ‖² over t
:mod:`.small_steps`        1-D data: the true reverse step against the best Gaussian
:mod:`.memorisation`       the exact reverse of the training set copies it; p_θ does not
=========================  ===========================================================
"""

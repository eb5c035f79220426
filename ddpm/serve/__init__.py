"""The serving layer: how the app's views are computed for a room on a few CPU cores or one GPU.

Between the teaching layer (:mod:`ddpm.teaching`, what a view shows) and the views
(:mod:`ddpm.views`, how it is laid out), this package holds everything about serving requests and
nothing about the page:

=========================  ===========================================================
module                     what it does
=========================  ===========================================================
:mod:`.handlers`           :func:`~.handlers.endpoint`: one decorator, four layers in one order
:mod:`.runtime`            the lazily loaded model, diffusion, classifier and digits; ZeroGPU
:mod:`.compute`            one thread per process for the network (one OpenMP team, hot)
:mod:`.scheduler`          its step scheduler: one forward pass per step for all chains
:mod:`.stream`             a chain run as one task there, frames handed out at a pace
:mod:`.results`            shared results: a bounded cache, joined flights, ``Busy``
:mod:`.cache`              keys, sizes and a byte-bounded LRU for :mod:`.results`
:mod:`.queue`              Gradio's queue sizes and the "busy, retry in N s" message
:mod:`.page_cache`         the page built once and sent compressed
:mod:`.static_files`       the engine, its runtime and Gradio's frontend, cached by hash
:mod:`.validate`           every API input checked before Gradio converts it
:mod:`.settings`           every setting (environment variables) and the frame pace
=========================  ===========================================================
"""

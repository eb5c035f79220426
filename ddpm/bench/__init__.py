"""Benchmarks, each run as ``python -m ddpm.bench.<name>`` from the repository root; they print
measured figures and ratios (docs/performance.md, docs/serving.md) and are never timed tests.

=========================  ===========================================================
module                     what it measures
=========================  ===========================================================
:mod:`.model`              the network and the samplers, beside a reference implementation
:mod:`.app`                the app as a user feels it: a chain in the page, the slider, the page
:mod:`.load`               a lecture's room: many clients at once against ``python app.py``
:mod:`.room`               a room of chains on the step scheduler, in process: batched vs alone
:mod:`.server`             (helper) the app under test in a process of its own, its CPU time
:mod:`.http`               (helper) Gradio's REST calls over plain HTTP, timed
:mod:`.local`              (helper) free ports and a headless Chromium on this machine
=========================  ===========================================================
"""

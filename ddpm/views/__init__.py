"""The Gradio UI: tabs that only lay out and wire; every number they show comes from ``ddpm``.

:mod:`.page` composes the whole page (header, digit picker, tabs) and says how it is served;
:mod:`.tabs` is the one list of the app's tabs. The main views are :mod:`.forward` (its in-page
player beside it, :mod:`.forward_player`, with its script in ``static/``), :mod:`.reverse` and
:mod:`.generate`; the lessons are in :mod:`.lessons`; :mod:`.digits` is the digit picker every
view reads and :mod:`.lecture` the deep links, presets and large layout. :mod:`.kit` holds what
any of them may be built from (widgets, plots, the chain player, styles). How the handlers are
served (one thread for the network, shared results, queues) is :mod:`ddpm.serve`.
"""

"""The views' UI kit: what any tab may be built from, and nothing any one tab decides.

The kit knows the page, not the lessons: it imports no tab and none of :mod:`ddpm.teaching`,
:mod:`ddpm.toy` or :mod:`ddpm.unet` (``tests/test_layout.py`` checks both). A piece that serves one
tab lives beside that tab: the forward process' player is :mod:`ddpm.views.forward_player`, the
2-D world's :mod:`ddpm.views.lessons.plane_player`, each with its scripts in a ``static/`` folder
of its own, built from :mod:`.inpage` and styled by the kit's ``static/players.css``.

=========================  ===========================================================
module                     what it holds
=========================  ===========================================================
:mod:`.tab`                :class:`~.tab.Tab`, an entry of the one list of tabs
:mod:`.links`              a control's value in a link, by the control's own rules
:mod:`.widgets`            image and plot outputs, seed fields, Run wiring, frames sent inline
:mod:`.encode`             the one PNG encoder, data URLs, files to download
:mod:`.plots`              every matplotlib figure, as RGB arrays
:mod:`.words`              what the screen calls a network, its output and its loss
:mod:`.inpage`             what every in-page player is made of: its script, icons, base64 arrays
:mod:`.players`            the chain player (a finished chain, scrubbed in the page)
:mod:`.recording`          a chain's recording: frames, pacing, files, the player's value
:mod:`.style`              the theme, all CSS and the page's JavaScript (``static/``)
=========================  ===========================================================
"""

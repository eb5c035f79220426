"""The views' UI kit: what every tab is built from, and nothing any one tab decides.

=========================  ===========================================================
module                     what it holds
=========================  ===========================================================
:mod:`.tab`                :class:`~.tab.Tab`, an entry of the one list of tabs
:mod:`.links`              a control's value in a link, by the control's own rules
:mod:`.widgets`            image and plot outputs, seed fields, Run wiring, frames sent inline
:mod:`.encode`             the one PNG encoder, data URLs, files to download
:mod:`.plots`              every matplotlib figure, as RGB arrays
:mod:`.players`            the in-page players (forward process, a finished chain)
:mod:`.recording`          a chain's recording: frames, pacing, files, the player's value
:mod:`.style`              the theme, all CSS and the page's JavaScript (``static/``)
=========================  ===========================================================
"""

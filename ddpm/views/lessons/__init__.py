"""The lessons' tabs, one module each: each takes one idea of the paper and shows it (the numbers
come from :mod:`ddpm.teaching`; the list of tabs is :mod:`ddpm.views.tabs`). A player that only
one lesson uses lies beside it: :mod:`.plane_player`, the 2-D world's, with its scripts in ``static/``."""

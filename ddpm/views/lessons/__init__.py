"""The lessons' tabs, one module each: each takes one idea of the paper and shows it (the numbers
come from :mod:`ddpm.teaching`; the list of tabs is :mod:`ddpm.views.tabs`)."""

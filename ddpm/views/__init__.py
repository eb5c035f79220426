"""The Gradio UI: one module per view, each exposing a function that builds its tab.

Only this subpackage and ``app.py`` import gradio; every number and image comes from ``ddpm``.
"""

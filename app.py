"""DDPM reverse-process explorer: the Gradio app.

``python app.py`` serves it at http://127.0.0.1:7860. This file only wires the UI; every number and
image comes from the ``ddpm`` package. The interactive views arrive with the trained model; until
then the page says so.
"""

from __future__ import annotations

import gradio as gr

TITLE = "DDPM: the reverse process, step by step"

INTRO = r"""
# DDPM: the reverse process, step by step

An interactive companion to *Denoising Diffusion Probabilistic Models* (Ho et al. 2020) on MNIST.
Notation is the paper's: $\beta_t$, $\alpha_t = 1 - \beta_t$, $\bar\alpha_t = \prod_{s \le t} \alpha_s$.

The forward process adds noise,
$q(x_t \mid x_0) = \mathcal{N}(\sqrt{\bar\alpha_t}\,x_0,\,(1-\bar\alpha_t) I)$;
the reverse process removes it, either exactly with $q(x_{t-1} \mid x_t, x_0)$, which knows $x_0$,
or with a learned $p_\theta(x_{t-1} \mid x_t)$.

**The interactive views are coming:** they need the trained noise-prediction model, which is not
bundled yet. The maths they will show already lives in the `ddpm` package.
"""


def build_demo() -> gr.Blocks:
    """The app's Blocks, not yet launched."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO, latex_delimiters=[{"left": "$", "right": "$", "display": False}])
    return demo


if __name__ == "__main__":
    build_demo().queue(max_size=32).launch()

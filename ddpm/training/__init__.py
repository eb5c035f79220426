"""Training the ε-model, as ``python -m ddpm.train`` runs it: the library under its command line.

- :mod:`.state`: what a run holds (its process, averages, precision, teachers, setup, changing
  state, session, batch) and its files: ``train_state.pt`` saved and resumed, the averages
  exported as checkpoints;
- :mod:`.steps`: one step after another: the learning rate, the EMA, the data, a batch's draw,
  target and loss, the optimizer step, the log, the stopping rules and a grid of samples.
"""

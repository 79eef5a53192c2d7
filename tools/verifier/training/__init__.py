"""Training and evaluation of the paper-level stance model. Never imported on the run path."""

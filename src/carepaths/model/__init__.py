"""The Bayesian model: priors, the PyMC build, sampling, and the fit (diagnostics, save/load, and the answers it gives)."""

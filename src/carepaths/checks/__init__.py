"""Prior and posterior predictive checks by stage, LOO and LOO-PIT."""

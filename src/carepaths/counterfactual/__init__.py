"""Counterfactual answers by g-computation on parameter draws: the population sampler, the worlds, effects, interventions and their comparison."""

"""The causal graph a spec implies and what it identifies (DoWhy is imported here and in :mod:`carepaths.integrations`)."""

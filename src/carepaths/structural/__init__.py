"""The structural model as mathematics: the equations (NumPy and PyTensor alike) and the one translator from a parameter set to their arrays."""

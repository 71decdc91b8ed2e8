"""Dataset tooling for RMBG. Imports no TensorFlow."""

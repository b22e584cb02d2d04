"""Serving on Triton: the server launcher, the model repository reader, inventory, perf_analyzer."""

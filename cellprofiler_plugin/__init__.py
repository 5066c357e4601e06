"""CellProfiler integration: the RunNuSeT module (``runnuset.py``).

``nuset cellprofiler install DIR`` copies it into a CellProfiler plugins
folder; ``nuset cellprofiler plugin-dir`` prints this folder, which can be
given to CellProfiler as its plugins directory instead.
"""

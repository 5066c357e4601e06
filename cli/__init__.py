"""The ``nuset`` command line (click). Commands are thin shells over
:mod:`nuset_engine`: parse options, call the engine, report."""

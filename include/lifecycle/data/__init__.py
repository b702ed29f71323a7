"""Data side of the lifecycle: the replayed source system, acquisition, CSV parsing, the Great Expectations
suite, the accept/quarantine decision and its report."""

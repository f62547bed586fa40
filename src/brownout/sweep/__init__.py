"""What-if sweeps: scenarios x seeds x variants, run serially, on a process pool, or on Dask.

The grid (:mod:`grid`) and the task (:mod:`task`) are plain Python; only
:mod:`runner` knows about executors, and it imports ``distributed`` lazily, so
the core never depends on Dask.
"""

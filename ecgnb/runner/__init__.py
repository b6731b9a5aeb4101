"""The runner: what renders and serves the notebooks, apart from what they teach.

The ``ecgnb`` command (cli, scoring), executing notebooks into a run folder (report, watch, clean),
run.json and the run's place (run_state, places), the pages (pages, parameters_page), the one cache
of executed notebooks (cache), studies on Dask (grid, cluster, sweep, study_table), JupyterLab on
working copies (lab) and the notebook CI's reference run (reference). It imports the library
(``ecgnb``); the library never imports it.
"""

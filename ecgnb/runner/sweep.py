"""A study: every configuration of a grid × seeds as one report on Dask, resumable, then its table.

    grid.plan()          every run validated and named before anything starts
    grid.decide()        complete runs from before are kept, the rest run
    cluster.connect()    a LocalCluster started and stopped here, or an existing scheduler
    cluster.execute()    the runs on the workers, each finished run folder landed in the reports folder
    study_table.write()  mean ± std per configuration, one row per run
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ecgnb import config
from ecgnb.runner import cluster, grid, messages, study_table
from ecgnb.errors import EcgnbError
from ecgnb.runner.grid import PlannedRun


@contextlib.contextmanager
def study_lock(reports_dir: Path, study: str) -> Iterator[None]:
    """Hold ``reports_dir/.STUDY.lock`` so two studies of one name never write the same run folders."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    with open(reports_dir / f".{study}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EcgnbError(f"study {study}: another `ecgnb study --name {study}` is running on {reports_dir}; "
                             "wait for it or choose another --name") from None
        yield


def run_study(study: str, planned: Sequence[PlannedRun], *, reports_dir: Path, force: bool, workers: int | None,
              threads: int | None, scheduler: str | None, run_options: Mapping[str, Any], command: Sequence[str],
              say: Callable[[str], None]) -> int:
    """Resume or start ``planned`` on Dask, then write the study table; 0, or 1 when a run failed."""
    settings = len({p.setting for p in planned})
    with study_lock(reports_dir, study):
        todo, kept = grid.decide(planned, reports_dir, force)
        say(f"study {study}: {len(planned)} runs ({settings} configuration(s) × {len(planned) // settings} seed(s)), "
            f"{len(kept)} complete kept, {len(todo)} to run")
        failures: dict[str, str] = {}
        if todo:
            start = time.perf_counter()
            try:
                with cluster.connect(workers or cluster.default_workers(len(todo)), scheduler) as client:
                    per_run = threads or cluster.threads_per_run(client)
                    slots = client.nthreads()
                    say(f"cluster: {len(slots)} worker(s) {'at ' + scheduler if scheduler else 'on this machine'}, "
                        f"{sum(slots.values())} run(s) at a time, {per_run} thread(s) per run")
                    topic = f"ecgnb-study-{uuid.uuid4().hex}"
                    about = {"name": study, "command": ["ecgnb", *command]}
                    jobs = [cluster.Job(p.name, config.to_yaml(p.cfg), dict(run_options), per_run, topic, about)
                            for p in todo]
                    progress = cluster.Progress(len(jobs), sum(slots.values()), say)
                    results = cluster.execute(client, jobs, reports_dir, progress)
            except KeyboardInterrupt:
                say(f"study {study} interrupted: finished runs are kept; the same command resumes the rest")
                raise
            failures = {name: why for name, why in results.items() if why is not None}
            say(f"study {study}: {len(todo) - len(failures)} complete, {len(failures)} failed "
                f"in {messages.clock_time(time.perf_counter() - start)}")
        md = study_table.write(study, planned, reports_dir)
    print(md, end="")
    if failures:
        say(f"failed runs ({len(failures)}; the same command runs them again):")
        for name, why in failures.items():
            say(f"  {name}: {why}")
    say(f"table: {reports_dir / study}.md and .html")
    return 1 if failures else 0

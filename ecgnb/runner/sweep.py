"""A study: every configuration of a grid × seeds as one report on Dask, resumable, then its table.

    grid.plan()          every run validated and named before anything starts
    grid.decide()        complete runs from before are kept, the rest run
    cluster.connect()    a LocalCluster started and stopped here, or an existing scheduler
    execute()            the runs on the workers, each finished run folder landed in the reports folder
    study_table.write()  mean ± std per configuration, one row per run
"""

from __future__ import annotations

import contextlib
import fcntl
import queue
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ecgnb import config
from ecgnb.errors import EcgnbError, one_line
from ecgnb.runner import cluster, grid, messages, pages, run_state, study_table
from ecgnb.runner.grid import PlannedRun
from ecgnb.runner.study_progress import Progress


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
                    results = execute(client, jobs, reports_dir, Progress(len(jobs), sum(slots.values()), say))
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


# ---------------------------------------------------------------- the runs on the cluster, followed and landed


def execute(client: Any, jobs: Sequence[cluster.Job], reports_dir: Path,
            progress: Progress) -> dict[str, str | None]:
    """Run ``jobs`` on the cluster, landing each run as it finishes; {name: None if complete, else why not}."""
    events: queue.Queue = queue.Queue()
    topic = jobs[0].topic
    client.subscribe_topic(topic, lambda event: events.put(("started", event[1])))
    futures = {}
    for job in jobs:
        key = f"ecgnb-run-{job.name}-{uuid.uuid4().hex[:8]}"
        future = client.submit(cluster.run_on_worker, job, key=key, pure=False)
        future.add_done_callback(lambda f: events.put(("finished", f)))
        futures[future.key] = (job.name, future)
    results: dict[str, str | None] = {}
    try:
        while len(results) < len(jobs):
            try:
                kind, item = events.get(timeout=1.0)
            except queue.Empty:
                processing = {key for keys in client.processing().values() for key in keys}
                for key, (name, future) in futures.items():
                    if name in progress.running and key not in processing and not future.done():
                        progress.requeued(name)
                continue
            if kind == "started":
                if item["run"] in progress.running:  # started again before a poll saw its worker die
                    progress.requeued(item["run"])
                if item["run"] not in results:  # a late message of a run that already finished
                    progress.started(item["run"], item["worker"])
                continue
            name, _ = futures.pop(item.key)
            seconds, results[name] = collect(item, reports_dir)
            progress.finished(name, results[name] is None, seconds, headline(reports_dir / name, results[name]))
            pages.write_index(reports_dir)
    finally:
        client.unsubscribe_topic(topic)
    return results


def collect(future: Any, reports_dir: Path) -> tuple[float | None, str | None]:
    """Land a finished run: (its seconds if complete, None if complete else why it is not)."""
    from distributed import KilledWorker

    try:
        outcome: cluster.Outcome = future.result()
    except KilledWorker:
        return None, "its worker died while running it, on every try (Dask: KilledWorker)"
    except Exception as err:  # noqa: BLE001 - whatever went wrong on the worker fails this run only
        return None, f"could not run on the worker ({type(err).__name__}: {one_line(err)})"
    run_dir = cluster.land(outcome, reports_dir)
    if run_dir is None:
        errors = [line for line in outcome.log_tail.splitlines() if line.startswith("error:")]
        last = (errors or outcome.log_tail.splitlines() or ["no output"])[-1]
        return None, f"`ecgnb run` exited with code {outcome.code} before making its run folder: {last}"
    info = run_state.read_status(run_dir)
    if info["status"] == "complete":
        return outcome.seconds, None
    failure = info.get("failure") or {}  # as `ecgnb run` says it: 02_train failed at cell [5]: … (see …)
    see = run_dir / failure["html"] if failure.get("html") else None
    return None, run_state.failure_line(info["status"], failure, see)


def headline(run_dir: Path, failure: str | None) -> str:
    """What the progress line says of a finished run: its time and headline metrics, or its failure."""
    if failure is not None:
        return f": {failure}"
    info = run_state.read_status(run_dir)
    metrics = info.get("metrics") or {}
    shown = ", ".join(f"{k} {pages.fmt(metrics[k])}" for k in ("roc_auc", "balanced_accuracy") if k in metrics)
    return f" in {info.get('seconds')} s" + (f": {shown}" if shown else "")

"""Studies on Dask: every configuration of a grid × seeds as one ``ecgnb run`` on a worker, resumable.

    plan()       validates every configuration (before anything starts) and names its run
    decide()     splits the plan into runs to do and complete runs kept from before (resume)
    connect()    a LocalCluster started and stopped here, or an existing scheduler
    execute()    submits the runs, shows progress over runs, lands each finished run folder

On the worker, :func:`run_on_worker` executes ``ecgnb run`` in a subprocess with its thread count
set (OMP/MKL/OpenBLAS, hence torch), renders into a scratch folder and returns the run folder as
tar.gz bytes, so client and workers need no shared filesystem; the client unpacks it into the
reports folder. A failed run comes back like a complete one (its report shows the failing cell);
a worker that dies mid-run loses only that run, which Dask retries once on another worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import io
import itertools
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ecgnb import cli, config, pages, runs
from ecgnb.config import Config
from ecgnb.errors import EcgnbError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # torch reads OMP's
# The local cluster's scheduler: a run whose worker dies is tried once more, a second death reports it
# failed; and a worker holds only the run it executes (Dask's default 1.1 queues a second one there,
# which would then count its neighbour's deaths as its own).
LOCAL_SCHEDULER = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}
LOG_LINES = 20  # of a run's stderr, kept for runs that end without a run folder
CONNECT_TIMEOUT_S = 30


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study: its folder name, its validated config and its grid values (its configuration)."""

    name: str
    cfg: Config
    setting: tuple[tuple[str, Any], ...]


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``-g KEY=V1,V2`` options → {key: [value text, …]} in the order given (values are read as YAML later)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        texts = [v.strip() for v in values.split(",")]
        if not sep or not key or not all(texts):
            raise EcgnbError(f"-g {item}: write KEY=V1,V2,… (a parameter, '=', comma-separated values)")
        if key == "seed":
            raise EcgnbError(f"-g {item}: give seeds with --seeds, not in a grid")
        if key in grid:
            raise EcgnbError(f"-g {key}: given twice; list all its values in one -g {key}=V1,V2,…")
        if len(set(texts)) != len(texts):
            raise EcgnbError(f"-g {item}: each value once")
        grid[key] = texts
    return grid


def plan(study: str, grid: Mapping[str, Sequence[str]], seeds: Sequence[int],
         resolve: Callable[[list[tuple[str, str]]], Config]) -> list[PlannedRun]:
    """Every grid point × seed, validated by ``resolve`` (extra ``-p`` pairs → Config), in a stable order.

    A value that makes an invalid configuration is a one-line error naming the run; nothing has
    started then. Run names say their configuration: ``STUDY-embedding_dim16-seed2``.
    """
    if len(set(seeds)) != len(seeds):
        raise EcgnbError(f"--seeds {' '.join(map(str, seeds))}: each seed once")
    planned = []
    for values in itertools.product(*grid.values()):
        pairs = list(zip(grid, values))
        for seed in seeds:
            name = run_name(study, pairs, seed)
            try:
                cfg = resolve([*pairs, ("seed", str(seed))])
            except EcgnbError as err:
                raise EcgnbError(f"run {name}: {err}") from None
            planned.append(PlannedRun(name, cfg, tuple((k, getattr(cfg, k)) for k, _ in pairs)))
    names = [p.name for p in planned]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise EcgnbError(f"grid values give the same run name twice ({', '.join(clashes)}); "
                         "use values that differ in letters or digits")
    return planned


def run_name(study: str, pairs: Sequence[tuple[str, str]], seed: int) -> str:
    """``STUDY-KEYVALUE-…-seedS``; characters a folder name cannot hold become '_'."""
    parts = [study, *(f"{key}{value}" for key, value in pairs), f"seed{seed}"]
    return "-".join(parts).translate({ord(c): "_" for c in "/\\ :*?\"'<>|"})


# ---------------------------------------------------------------- resuming


def decide(planned: Sequence[PlannedRun], reports_dir: Path, force: bool) -> tuple[list[PlannedRun], list[PlannedRun]]:
    """(to run, kept): a complete run with the same parameters is kept unless ``force``; a failed or
    incomplete one runs again. A folder that is not this run (no run.json, other parameters) is an
    error unless ``force``.
    """
    todo, kept = [], []
    for run in planned:
        folder = reports_dir / run.name
        if not folder.exists() or force:
            todo.append(run)
            continue
        info = runs.read_status(folder) if (folder / runs.STATUS).is_file() else None
        if info is None or info.get("parameters") != run.cfg.to_dict():
            what = "was not made by `ecgnb run`" if info is None else "holds other parameters"
            raise EcgnbError(f"{folder}: run folder {what}; pass --force to replace it or choose another --name")
        (kept if runs.effective_status(info) == "complete" else todo).append(run)
    return todo, kept


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


# ---------------------------------------------------------------- the cluster


def usable_cores() -> int:
    """Cores this process may use (affinity and cgroup quota counted)."""
    from dask.system import CPU_COUNT

    return CPU_COUNT


def host_facts() -> tuple[str, int]:
    """(host name, usable cores) of the machine a worker runs on."""
    return socket.gethostname(), usable_cores()


@contextlib.contextmanager
def connect(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A Dask client: to ``scheduler`` if given, else to a LocalCluster of ``workers`` processes,
    one thread (one run at a time) each, stopped on exit.
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except OSError as err:
            raise EcgnbError(f"--scheduler {scheduler}: cannot connect ({err}); start `dask scheduler` there "
                             "or check the address") from None
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError):
            client.close()
            raise EcgnbError(f"--scheduler {scheduler}: no worker connected within {CONNECT_TIMEOUT_S} s; "
                             f"start `dask worker {scheduler} --nthreads 1` on the machines") from None
        with client:
            yield client
        return
    with dask.config.set(LOCAL_SCHEDULER), ignoring_ctrl_c():
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def ignoring_ctrl_c() -> Iterator[None]:
    """Start processes that ignore Ctrl-C (the workers): only this command reacts, closing the cluster."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def default_workers(runs_to_do: int) -> int:
    """One worker per core, never more than there are runs (at least one)."""
    return max(1, min(usable_cores(), runs_to_do))


def threads_per_run(client: Any) -> int:
    """Cores per run that keep every host busy without oversubscribing it: on each host its usable
    cores over the runs it executes at once (the worker threads there); the smallest over hosts.
    """
    slots = client.nthreads()
    facts = client.run(host_facts)
    per_host: dict[str, list[int]] = {}
    for address, (host, cores) in facts.items():
        per_host.setdefault(host, [cores, 0])[1] += slots.get(address, 1)
    return max(1, min(cores // busy for cores, busy in per_host.values()))


# ---------------------------------------------------------------- one run, on a worker


@dataclass(frozen=True)
class Job:
    """What a worker needs for one run. The config travels as text; paths in it (data_path, checkpoint)
    and in run_options (--notebooks-dir) must exist on the worker's machine.
    """

    name: str
    params_yaml: str  # the run's resolved config
    run_options: tuple[str, ...]  # passed on to `ecgnb run` (--hide-code, --notebooks-dir)
    threads: int
    topic: str  # where the worker announces that the run started
    study: dict[str, Any] = field(default_factory=dict)  # recorded in the run's run.json


@dataclass(frozen=True)
class Outcome:
    """What comes back: ``ecgnb run``'s exit code and the run folder as tar.gz (None if it made none)."""

    name: str
    code: int
    seconds: float
    worker: str
    log_tail: str
    archive: bytes | None


def thread_env(threads: int) -> dict[str, str]:
    return {name: str(threads) for name in THREAD_VARIABLES}


def run_on_worker(job: Job) -> Outcome:
    """Execute one ``ecgnb run`` in a scratch folder of this worker; return its folder as bytes."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(job.topic, {"run": job.name})  # Dask adds the worker's address
    scratch = Path(tempfile.mkdtemp(prefix=f"ecgnb-{job.name}-", dir=worker.local_directory))
    try:
        params = scratch / runs.PARAMS
        params.write_text(job.params_yaml)
        reports = scratch / "reports"
        argv = [sys.executable, "-m", "ecgnb.sweep", str(os.getpid()), "run", "-f", str(params),
                "--name", job.name, "--reports", str(reports), *job.run_options]
        start = time.perf_counter()
        done = subprocess.run(argv, env={**os.environ, **thread_env(job.threads)}, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        seconds = time.perf_counter() - start
        run_dir = reports / job.name
        archive = None
        if (run_dir / runs.STATUS).is_file():
            settle(run_dir, done.returncode, seconds)
            runs.update_status(run_dir, study={**job.study, "worker": worker.address, "threads": job.threads})
            archive = pack(run_dir)
        tail = "\n".join(done.stderr.splitlines()[-LOG_LINES:])
        return Outcome(job.name, done.returncode, seconds, worker.address, tail, archive)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def settle(run_dir: Path, code: int, seconds: float) -> None:
    """A run.json still saying *running* after its process ended: mark it failed at the notebook it was in."""
    info = runs.read_status(run_dir)
    if info["status"] != "running":
        return
    notebook = next((nb for nb, entry in info["notebooks"].items() if entry.get("status") == "running"), None)
    runs.finish_status(run_dir, "failed", seconds, failure={
        "notebook": notebook, "cell": None, "html": None, "error": f"`ecgnb run` ended with exit code {code}"})


def pack(run_dir: Path) -> bytes:
    """The run folder as tar.gz bytes, its files under ``NAME/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(run_dir, arcname=run_dir.name)
    return buffer.getvalue()


def die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel send SIGTERM when the worker that started us dies, so a killed worker
    leaves no training behind (its notebook kernel stops by itself when we do). Elsewhere: no-op.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the worker died before prctl took effect
        raise SystemExit(143)


def child_main(argv: Sequence[str]) -> int:
    """``python -m ecgnb.sweep WORKER_PID ARGS…``: ``ecgnb ARGS…`` that dies with its worker."""
    die_with_parent(int(argv[0]))
    return cli.main(list(argv[1:]))


# ---------------------------------------------------------------- back on the client


def land(outcome: Outcome, reports_dir: Path) -> Path | None:
    """Unpack a shipped run folder into ``reports_dir/NAME``, replacing an older one only once it is
    whole (unpacked beside it, then renamed). None when the run made no folder.
    """
    if outcome.archive is None:
        return None
    target = reports_dir / outcome.name
    incoming = reports_dir / f".{outcome.name}.incoming-{os.getpid()}"
    replaced = reports_dir / f".{outcome.name}.replaced-{os.getpid()}"
    for stale in (incoming, replaced):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(outcome.archive), mode="r:gz") as tar:
            tar.extractall(incoming, filter="data")
        if target.exists():
            os.replace(target, replaced)
        os.replace(incoming / outcome.name, target)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
        shutil.rmtree(replaced, ignore_errors=True)
    return target


@dataclass
class Progress:
    """Counts over the runs of a study and the time left, one line per event on stderr."""

    total: int
    slots: int
    say: Callable[[str], None]
    start: float = field(default_factory=time.perf_counter)
    running: dict[str, float] = field(default_factory=dict)  # name → when it started
    durations: list[float] = field(default_factory=list)  # of runs finished here
    done: int = 0
    failed: int = 0

    def started(self, name: str, where: str) -> None:
        self.running[name] = time.perf_counter()
        self.event(f"start  {name} on {where}")

    def requeued(self, name: str) -> None:
        self.running.pop(name)
        self.event(f"retry  {name}: its worker died; it runs again on the next free worker")

    def finished(self, name: str, ok: bool, seconds: float | None, detail: str) -> None:
        self.running.pop(name, None)
        self.done += ok
        self.failed += not ok
        if seconds is not None:
            self.durations.append(seconds)
        self.event(f"{'done  ' if ok else 'FAILED'} {name}{detail}")

    def event(self, what: str) -> None:
        elapsed = time.perf_counter() - self.start
        waiting = self.total - self.done - self.failed - len(self.running)
        counts = f"{self.done} done · {len(self.running)} running · {self.failed} failed · {waiting} waiting"
        self.say(f"[{clock(elapsed)}] {what}  ({counts}{self.time_left(waiting)})")

    def time_left(self, waiting: int) -> str:
        """Mean run time so far × the work left, spread over the slots; unknown before a run ends."""
        if not self.durations or not (waiting or self.running):
            return ""
        mean = sum(self.durations) / len(self.durations)
        now = time.perf_counter()
        left = waiting * mean + sum(max(0.0, mean - (now - t)) for t in self.running.values())
        return f" · about {clock(left / self.slots)} left"


def clock(seconds: float) -> str:
    """``h:mm:ss``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def execute(client: Any, jobs: Sequence[Job], reports_dir: Path, progress: Progress) -> dict[str, str | None]:
    """Run ``jobs`` on the cluster, landing each run as it finishes; {name: None if complete, else why not}."""
    events: queue.Queue = queue.Queue()
    topic = jobs[0].topic
    client.subscribe_topic(topic, lambda event: events.put(("started", event[1])))
    futures = {}
    for job in jobs:
        future = client.submit(run_on_worker, job, key=f"ecgnb-run-{job.name}-{uuid.uuid4().hex[:8]}", pure=False)
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
        outcome: Outcome = future.result()
    except KilledWorker:
        return None, "its worker died while running it, on every try (Dask: KilledWorker)"
    except Exception as err:  # noqa: BLE001 - whatever went wrong on the worker fails this run only
        return None, f"could not run on the worker ({type(err).__name__}: {cli.one_line(err)})"
    run_dir = land(outcome, reports_dir)
    if run_dir is None:
        errors = [line for line in outcome.log_tail.splitlines() if line.startswith("error:")]
        last = (errors or outcome.log_tail.splitlines() or ["no output"])[-1]
        return None, f"`ecgnb run` exited with code {outcome.code} before making its run folder: {last}"
    info = runs.read_status(run_dir)
    if info["status"] == "complete":
        return outcome.seconds, None
    return None, failure_text(run_dir, info)


def failure_text(run_dir: Path, info: Mapping[str, Any]) -> str:
    """``02_train failed at cell [5]: TrainingError: … (see …/02_train.html)``, as `ecgnb run` says it."""
    failure = info.get("failure") or {}
    where = f" at cell [{failure['cell']}]" if failure.get("cell") is not None else ""
    see = f" (see {run_dir / failure['html']})" if failure.get("html") else ""
    return f"{failure.get('notebook') or 'the run'} {info['status']}{where}: {failure.get('error')}{see}"


def headline(run_dir: Path, failure: str | None) -> str:
    """What the progress line says of a finished run: its time and headline metrics, or its failure."""
    if failure is not None:
        return f": {failure}"
    info = runs.read_status(run_dir)
    metrics = info.get("metrics") or {}
    shown = ", ".join(f"{k} {pages.fmt(metrics[k])}" for k in ("roc_auc", "balanced_accuracy") if k in metrics)
    return f" in {info.get('seconds')} s" + (f": {shown}" if shown else "")


# ---------------------------------------------------------------- the whole study


def run_study(study: str, planned: Sequence[PlannedRun], *, reports_dir: Path, force: bool, workers: int | None,
              threads: int | None, scheduler: str | None, run_options: Sequence[str], command: Sequence[str],
              say: Callable[[str], None]) -> int:
    """Resume or start ``planned`` on Dask, then write the study table; 0, or 1 when a run failed."""
    from ecgnb import study_table

    settings = len({p.setting for p in planned})
    with study_lock(reports_dir, study):
        todo, kept = decide(planned, reports_dir, force)
        say(f"study {study}: {len(planned)} runs ({settings} configuration(s) × {len(planned) // settings} seed(s)), "
            f"{len(kept)} complete kept, {len(todo)} to run")
        failures: dict[str, str] = {}
        if todo:
            start = time.perf_counter()
            try:
                with connect(workers or default_workers(len(todo)), scheduler) as client:
                    per_run = threads or threads_per_run(client)
                    slots = client.nthreads()
                    say(f"cluster: {len(slots)} worker(s) {'at ' + scheduler if scheduler else 'on this machine'}, "
                        f"{sum(slots.values())} run(s) at a time, {per_run} thread(s) per run")
                    topic = f"ecgnb-study-{uuid.uuid4().hex}"
                    about = {"name": study, "command": ["ecgnb", *command]}
                    jobs = [Job(p.name, config.to_yaml(p.cfg), tuple(run_options), per_run, topic, about) for p in todo]
                    results = execute(client, jobs, reports_dir, Progress(len(jobs), sum(slots.values()), say))
            except KeyboardInterrupt:
                say(f"study {study} interrupted: finished runs are kept; the same command resumes the rest")
                raise
            failures = {name: why for name, why in results.items() if why is not None}
            say(f"study {study}: {len(todo) - len(failures)} complete, {len(failures)} failed "
                f"in {clock(time.perf_counter() - start)}")
        md = study_table.write(study, planned, reports_dir)
    print(md, end="")
    if failures:
        say(f"failed runs ({len(failures)}; the same command runs them again):")
        for name, why in failures.items():
            say(f"  {name}: {why}")
    say(f"table: {reports_dir / study}.md and .html")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))

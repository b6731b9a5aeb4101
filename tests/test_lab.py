"""The lab as a reader meets it: JupyterLab on ``make lab``'s working copies, driven in headless Chromium.

Each notebook is opened and run with Run → Run All Cells, in order, on the smoke profile (06_recording last,
in its own run folder ``recording/``, on the synthetic recording). Per notebook: no error and no stderr output
(no red block: no traceback, warning or widget message such as "IProgress not found"), every figure cell
shows an image, the kernel is this environment's python, and the run folder holds the files the notebook's
Recap lists (06_recording: its beats.csv, model.pt and figures). Afterwards ``notebooks/`` is unchanged.
A screenshot of each notebook lands in ``build/test_lab/`` (named in the output). nbval and papermill
execute through nbclient; only this test sees what JupyterLab shows.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

import nbformat
import pandas as pd
import pytest

from ecgnb import runs
from ecgnb.runner import lab
from ecgnb.errors import EcgnbError

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "test_lab"  # screenshots, the server's log and the lab's folders (git-ignored)
PROFILE = ROOT / "params" / "smoke.yaml"
CHROMIUM = Path(os.environ.get("ECGNB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
NOTEBOOK_SECONDS = 300  # Run All of one notebook: 02_train took 27-51 s on 2 busy cores; headroom for busier ones
STDERR = "application/vnd.jupyter.stderr"
LAB_NOTEBOOKS = (*runs.NOTEBOOKS, runs.RECORDING_NOTEBOOK)  # what make lab copies, in the order a class runs them
RECORDING_WRITES = (runs.BEATS, runs.CHECKPOINT, *(f"{runs.FIGURES}/recording_{n}.png"  # 06 has no Recap to list them
                                                   for n in ("evidence", "flagged", "strip_shape", "strip_timing")))


# ---------------------------------------------------------------- make lab's working copies (no browser)


def test_working_copies_run_in_their_folder_with_the_profile_and_no_outputs(tmp_path):
    folder = lab.folder_for(PROFILE, tmp_path)
    assert folder == tmp_path / "lab-smoke"
    expected = [folder / f"{n}.ipynb" for n in runs.NOTEBOOKS] + [folder / "recording" / "06_recording.ipynb"]
    assert lab.working_copies(PROFILE, folder, ROOT) == expected
    for path in expected:
        nb = nbformat.read(path, as_version=4)
        assert not any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")
        assert f"profile `params/smoke.yaml`, run folder `{path.parent}/`" in nb.cells[0].source
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        values: dict = {}
        exec(params.source, values)
        assert values["run_dir"] == "."
        if path.stem in ("01_explore", "06_recording"):  # a run's first notebook: the profile, from its own folder
            assert (path.parent / values["params_file"]).resolve() == PROFILE.resolve() and values["overrides"] == {}


def test_a_learners_copy_stays_and_a_missing_profile_is_one_line(tmp_path):
    folder = tmp_path / "lab-smoke"
    lab.working_copies(PROFILE, folder, ROOT)
    (folder / "02_train.ipynb").write_text("mine")
    (folder / "03_threshold.ipynb").unlink()
    assert lab.working_copies(PROFILE, folder, ROOT) == [folder / "03_threshold.ipynb"]
    assert (folder / "02_train.ipynb").read_text() == "mine"
    with pytest.raises(EcgnbError, match=r"^nope\.yaml: no such parameters file"):
        lab.working_copies(Path("nope.yaml"), tmp_path / "other", ROOT)
    assert not (tmp_path / "other").exists()


def test_jupyter_lab_runs_from_this_environment_and_allows_root_only_as_root(monkeypatch, tmp_path):
    for uid, extra in ((0, ["--allow-root"]), (1000, [])):
        monkeypatch.setattr(os, "geteuid", lambda: uid)
        assert lab.command(tmp_path, "--no-browser") == [sys.executable, "-m", "jupyter", "lab", *extra,
                                                         f"--ServerApp.root_dir={tmp_path}", "--no-browser"]


# ---------------------------------------------------------------- the lab in a browser


def require_browser() -> None:
    """Skip without Chromium, with how to install it; in CI (CI=true) fail instead."""
    if CHROMIUM.is_file():
        return
    reason = (f"no Chromium at {CHROMIUM}: install it (Debian/Ubuntu: apt-get install chromium) "
              "or set ECGNB_CHROMIUM to a Chromium or Chrome binary")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server started like ``make lab`` on ``root_dir``, on a free loopback port with a token."""

    def __init__(self, root_dir: Path) -> None:
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {"user_settings_dir": OUT / "settings", "workspaces_dir": OUT / "workspaces"}
        for path in settings.values():
            path.mkdir(parents=True)
        no_news = settings["user_settings_dir"] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        no_news.parent.mkdir(parents=True)
        no_news.write_text('{"fetchNews": "false"}')  # no "official Jupyter news?" toast over the screenshots
        self.log = open(OUT / "jupyter.log", "w")
        self.runtime = OUT / "runtime"  # the kernels' connection files
        self.process = subprocess.Popen(
            lab.command(root_dir, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                        "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                        "--LabApp.news_url=", *(f"--LabApp.{k}={v}" for k, v in settings.items())),
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "JUPYTER_CONFIG_DIR": str(OUT / "config"), "JUPYTER_RUNTIME_DIR": str(self.runtime)})
        deadline = time.monotonic() + 60
        while True:
            try:
                self.api("status")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"jupyter lab did not start; see {OUT / 'jupyter.log'}") from None
                time.sleep(0.5)

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def session(self, path: str) -> dict | None:
        """The kernel session of the notebook at ``path`` (relative to the server's root), if any."""
        return next((s for s in self.api("sessions") if s["path"] == path), None)

    def wait_for_kernel(self, path: str, seconds: float = 120) -> None:
        """Until the notebook's kernel has started and is idle (Run All before that asks for a kernel)."""
        deadline = time.monotonic() + seconds
        while (session := self.session(path)) is None or session["kernel"]["execution_state"] != "idle":
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: no idle kernel after {seconds} s (session: {session})")
            time.sleep(0.5)

    def kernel_prefix(self, kernel_id: str) -> str:
        """``sys.prefix`` of a running kernel, asked through its connection file: the environment it runs in."""
        from jupyter_client import BlockingKernelClient

        client = BlockingKernelClient(connection_file=str(self.runtime / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        client.start_channels()
        try:
            reply = client.execute_interactive("import sys", user_expressions={"prefix": "sys.prefix"}, timeout=30)
        finally:
            client.stop_channels()
        return ast.literal_eval(reply["content"]["user_expressions"]["prefix"]["data"]["text/plain"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def folders() -> dict[str, Path]:
    """A fresh ``build/test_lab/``: the smoke profile's working copies, and a folder for a broken copy."""
    require_browser()
    shutil.rmtree(OUT, ignore_errors=True)
    made = {"lab": lab.folder_for(PROFILE, OUT), "broken": OUT / "broken", "changed": OUT / "changed"}
    for folder in made.values():
        lab.working_copies(PROFILE, folder, ROOT)
    return made


@pytest.fixture(scope="module")
def server(folders) -> Iterator[Lab]:
    started = Lab(OUT)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser.new_page(viewport={"width": 1280, "height": 1600})
        browser.close()


def snapshot_notebooks() -> tuple[str, dict[str, str]]:
    """``git status`` of notebooks/ and the hash of every file there."""
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "notebooks/"],
                            capture_output=True, text=True, check=True).stdout
    return status, {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted((ROOT / "notebooks").iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def committed_before(folders) -> tuple[str, dict[str, str]]:
    return snapshot_notebooks()


CURRENT = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the tab on top; the others keep theirs


def open_notebook(page, server: Lab, path: Path) -> None:
    """Open ``path`` as a learner does: by a double click in the file browser when it shows the notebook's
    folder, or its parent (a double click on the folder first) (a new tab; JupyterLab is not loaded again), else
    by its address, which loads JupyterLab."""
    relative = path.relative_to(OUT).as_posix()
    crumbs = page.locator(".jp-FileBrowser .jp-BreadCrumbs")

    def listed(name: str):
        return page.locator(".jp-FileBrowser .jp-DirListing-itemText").get_by_text(name, exact=True)

    def shows(folder: Path) -> bool:  # a file browser (none before the first load) on this folder
        return crumbs.count() == 1 and crumbs.inner_text().strip().rstrip("/").split("/")[-1].strip() == folder.name

    if shows(path.parent.parent) and listed(path.parent.name).count() == 1:
        listed(path.parent.name).dblclick()
        crumbs.filter(has_text=re.compile(rf"{re.escape(path.parent.name)}/?\s*$")).wait_for(timeout=30_000)
        listed(path.name).wait_for(timeout=30_000)
    if shows(path.parent) and listed(path.name).count() == 1:
        listed(path.name).dblclick()
    else:
        page.goto(f"{server.url}/lab/tree/{relative}?reset&token={server.token}")
    page.locator(".lm-TabBar-tab.jp-mod-current", has_text=path.name).wait_for(timeout=120_000)  # a busy machine


def run_all(page, server: Lab, path: Path) -> None:
    """Open ``path`` in the lab, Run → Run All Cells, wait until no cell is queued or running, and save."""
    open_notebook(page, server, path)
    server.wait_for_kernel(path.relative_to(OUT).as_posix())
    page.locator(f"{CURRENT} .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=10_000)
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        """(panel) => {
            const prompts = [...document.querySelectorAll(`${panel} .jp-CodeCell .jp-InputPrompt`)]
                .map(p => p.textContent);
            return prompts.some(t => /\\d/.test(t)) && !prompts.some(t => t.includes('*'));
        }""", arg=CURRENT, timeout=NOTEBOOK_SECONDS * 1000)
    page.keyboard.press("Control+s")
    page.locator(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)").wait_for(timeout=10_000)


def label(index: int, cell) -> str:
    """``cell [k]`` (k: the cell's place among the code cells, the prompt a full Run All shows) and its first line."""
    return f"cell [{index}] `{cell.source.splitlines()[0] if cell.source else ''}`"


def summary_files(nb) -> list[str]:
    """The files the Recap cell lists under "Files written to the run folder"."""
    summary = next(c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Recap"))
    listed = summary.split("Files written to the run folder:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"`([\w/.-]+\.\w+)`", listed)


def problems_of(path: Path, page, server: Lab, written: Sequence[str] | None = None) -> list[str]:
    """What is wrong with the notebook the lab just ran and saved at ``path``, one line each; ``written``: the
    files it must leave in its folder (default: those its Recap lists)."""
    name = path.stem
    nb = nbformat.read(path, as_version=4)
    found = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    shown = page.locator(f"{CURRENT} .jp-CodeCell")
    for k, cell in enumerate(code, 1):
        for out in cell.outputs:
            if out.output_type == "error":
                found.append(f"{name} {label(k, cell)}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                found.append(f"{name} {label(k, cell)}: stderr output {out.text.strip()[:200]!r}")
        if "plots.save(" in cell.source and shown.nth(k - 1).locator(".jp-RenderedImage img").count() == 0:
            found.append(f"{name} {label(k, cell)}: a figure cell shows no image")
    session = server.session(path.relative_to(OUT).as_posix())
    if session is None:
        found.append(f"{name}: no kernel session")
    else:
        kernel, prefix = session["kernel"]["name"], server.kernel_prefix(session["kernel"]["id"])
        if kernel != nb.metadata.kernelspec.name or prefix != sys.prefix:
            found.append(f"{name}: kernel {kernel!r} runs the python of {prefix}, not this environment's {sys.prefix}")
        server.api(f"sessions/{session['id']}", method="DELETE")  # its kernel's memory back for the next one
    missing = [f for f in (summary_files(nb) if written is None else written) if not (path.parent / f).is_file()]
    if missing:
        found.append(f"{name}: the run folder lacks {', '.join(missing)}")
    return found


def screenshot(page, path: Path, capsys) -> None:
    shot = OUT / f"{path.parent.name}-{path.stem}.png"
    page.screenshot(path=shot)
    with capsys.disabled():
        print(f"\n  screenshot: {shot.relative_to(ROOT)}", end="")


@pytest.mark.slow
@pytest.mark.parametrize("name", LAB_NOTEBOOKS)
def test_run_all_cells_in_the_lab(name, folders, server, page, committed_before, capsys):
    path = lab.copies_in(folders["lab"])[name]
    recording = name == runs.RECORDING_NOTEBOOK
    before = run_files(folders["lab"])
    run_all(page, server, path)
    screenshot(page, path, capsys)
    problems = problems_of(path, page, server, RECORDING_WRITES if recording else None)
    assert not problems, "\n".join(problems)
    if recording:  # the lesson (the synthetic recording's A and V beats all flagged), in a run folder of its own
        beats = pd.read_csv(path.parent / runs.BEATS, keep_default_na=False)
        assert set(beats["label"]) == {"N", "A", "V"} and beats.loc[beats["label"] != "N", "flagged"].all()
        assert run_files(folders["lab"]) == before, "06_recording changed what 01–05 wrote"


def run_files(folder: Path) -> dict[str, str]:
    """The hash of each file 01–05 wrote in ``folder`` (notebooks and 06's ``recording/`` left out)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file() and p.suffix != ".ipynb" and lab.RECORDING_DIR not in p.relative_to(folder).parts}


@pytest.mark.slow
def test_the_lab_left_the_committed_notebooks_alone(folders, committed_before):
    assert snapshot_notebooks() == committed_before, "a lab session changed notebooks/ (git status, file hashes)"


@pytest.mark.slow
def test_a_learner_changes_a_parameter_and_runs_again(folders, server, page, capsys):
    """Run 01, edit its parameters cell in the browser, Run All again: the run starts over with the new value
    (a note names what changed and what went), and 02 trains with it."""
    path = folders["changed"] / "01_explore.ipynb"
    run_all(page, server, path)
    params = next(c.source for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    assert "overrides = {}" in params
    page.locator(f"{CURRENT} .jp-CodeCell").nth(0).locator(".cm-content").click()
    page.keyboard.press("Control+a")  # the text of the cell being edited
    page.keyboard.insert_text(params.replace("overrides = {}", 'overrides = {"epochs": 1}'))  # no auto-closed braces
    run_all(page, server, path)
    screenshot(page, path, capsys)
    nb = nbformat.read(path, as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "new parameters (epochs: 2 → 1): this run starts over; removed what the old ones produced (data.json, " \
           "split.npz, figures/" in printed, printed
    problems = problems_of(path, page, server)
    assert not problems, "\n".join(problems)
    run_all(page, server, folders["changed"] / "02_train.ipynb")
    problems = problems_of(folders["changed"] / "02_train.ipynb", page, server)
    assert not problems, "\n".join(problems)
    assert runs.reopen(folders["changed"]).config.epochs == 1
    assert (folders["changed"] / runs.HISTORY).read_text().count("\n") == 1 + 2  # header, 1 epoch × 2 members


@pytest.mark.slow
def test_a_cell_that_only_fails_in_the_lab_is_named(folders, server, page, capsys):
    """A cell that reads a file beside the committed notebook (nbval runs there) fails in the lab's copy."""
    path = folders["broken"] / "01_explore.ipynb"
    nb = nbformat.read(path, as_version=4)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first_code + 1, nbformat.v4.new_code_cell('reference = open("reference.json").read()'))
    nbformat.write(nb, path)
    run_all(page, server, path)
    screenshot(page, path, capsys)
    problems = problems_of(path, page, server)
    assert any(p.startswith("01_explore cell [2] `reference = open(\"reference.json\").read()`: FileNotFoundError")
               for p in problems), problems

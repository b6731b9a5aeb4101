"""Executing one notebook with papermill in a python3 kernel started ahead of time, and rendering it as HTML.

On a small machine a notebook's fixed costs rival its work: the next notebook's kernel boots and loads its
imports while the one before runs (:class:`Kernels`), a kernel is killed once its last cell has run, one
HTML exporter per process compiles its templates once, and nbformat loads without jsonschema's 'iri'
grammar (:func:`skip_iri_format_check`).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

from ecgnb import atomic

KERNEL = "python3"


def skip_iri_format_check() -> None:
    """Import nbformat (papermill, nbconvert) without jsonschema's check of the 'iri' string format.

    With rfc3987-syntax installed (jupyter-events requires it), importing jsonschema builds some
    forty Lark parsers for that one format: about 2 s in every ``ecgnb run``, more than a copied
    notebook takes. No notebook schema uses the format; marking the module absent makes jsonschema
    leave the check out, as it does where rfc3987-syntax is not installed.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def execute(notebook: Path, output: Path, parameters: dict[str, Any], cwd: Path,
            kernel: Callable[[], Any] | None = None) -> None:
    """papermill, quiet, in ``cwd``, with the environment's python3 kernel: a new one, or the started one
    that ``kernel()`` gives (:meth:`Kernels.take`), stopped afterwards.

    The kernel is stopped at once when the last cell has run (``shutdown_kernel="immediate"``): every
    output and file is written by then, and the polite shutdown (interrupt, request, wait) costs about
    0.6 s per notebook.
    """
    skip_iri_format_check()
    import papermill

    started = kernel() if kernel else None
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(cwd),
                                   kernel_name=KERNEL, log_output=False, progress_bar=False,
                                   request_save_on_cell_execute=False, config=kernel_config(),
                                   shutdown_kernel="immediate", km=started)
    finally:
        if started is not None:
            stop_kernel(started)


class Kernels:
    """The kernels of one run, each started a notebook ahead: while a notebook executes, the next one's
    kernel (Python, ipykernel) boots on another core and loads that notebook's imports (:func:`imports`),
    some 1 to 4 s off each notebook after the first. Only a run that executes a notebook starts any; the
    one left over is stopped by :meth:`close`."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.spare: Any = None

    def take(self, notebook: Path, after: Path | None) -> Any:
        """A started kernel for ``notebook``, about to execute; with a notebook ``after`` it, that one's boots."""
        kernel, self.spare = self.spare or start_kernel(self.cwd, notebook), None
        if after is not None:
            self.spare = start_kernel(self.cwd, after)
        return kernel

    def close(self) -> None:
        if self.spare is not None:
            stop_kernel(self.spare)
            self.spare = None


def imports(notebook: Path) -> str:
    """The notebook's top-level import statements, one per line (cells that are not plain Python are skipped)."""
    import ast

    import nbformat

    lines = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            body = ast.parse(cell.source).body
        except SyntaxError:  # a cell with IPython magics
            continue
        lines += [ast.unparse(node) for node in body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)


def start_kernel(cwd: Path, notebook: Path) -> Any:
    """A python3 kernel launched in ``cwd`` with this process's environment, told to load ``notebook``'s
    imports; both go on while the caller does (the notebook's first request waits for them). The imports
    run silently: the notebook's execution counts are those of a fresh kernel, and what an import prints
    (a library's warning, say) stays out of the report; an import that fails there fails again, visibly,
    in the notebook's own cell. The kernel remembers the clients it hands out, so that :func:`stop_kernel`
    closes their channels too (nbclient leaves them open on a kernel it did not start)."""
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    class Manager(AsyncKernelManager):
        def client(self, **kwargs: Any) -> Any:
            self.clients = [*getattr(self, "clients", []), super().client(**kwargs)]
            return self.clients[-1]

        def own_client(self) -> Any:
            """A blocking client with a session of its own. Every :meth:`client` shares the manager's session id,
            which is the zmq identity: two such clients at once stall the kernel's replies to one of them. A
            blocking client sends at once; an asynchronous one waits for an event loop that is not running."""
            made = BlockingKernelClient(parent=self)
            made.load_connection_info(self.get_connection_info())
            self.clients = [*getattr(self, "clients", []), made]
            return made

    kernel = Manager(kernel_name=KERNEL, config=kernel_config())
    run_sync(kernel.start_kernel)(cwd=str(cwd))
    warm = kernel.own_client()
    warm.start_channels(iopub=False, stdin=False, hb=False, control=False)
    warm.execute(imports(notebook), silent=True, store_history=False)
    return kernel


def stop_kernel(kernel: Any) -> None:
    """Kill a kernel from :func:`start_kernel` and close the channels of its clients."""
    from jupyter_core.utils import run_sync

    for client in getattr(kernel, "clients", []):
        client.stop_channels()
    if run_sync(kernel.is_alive)():
        run_sync(kernel.shutdown_kernel)(now=True)
    run_sync(kernel.cleanup_resources)()


def kernel_config() -> Any:
    """Encrypt kernel traffic where zmq can (CurveZMQ); it also silences ipykernel's plain-TCP warning."""
    import zmq
    from traitlets.config import Config as TraitletsConfig

    return TraitletsConfig({"KernelManager": {"transport_encryption": "auto"}} if zmq.has("curve") else {})


@functools.cache
def html_exporter(hide_code: bool) -> Any:
    """One exporter per process and setting: it compiles its templates once (0.5 s), not per notebook."""
    skip_iri_format_check()
    from nbconvert import HTMLExporter

    return HTMLExporter(exclude_input=hide_code)


def render_html(notebook: Path, hide_code: bool) -> Path:
    """The executed notebook as standalone HTML next to it (code cells left out with ``hide_code``)."""
    body, _ = html_exporter(hide_code).from_filename(str(notebook))
    target = notebook.with_suffix(".html")
    atomic.write_text(target, body)
    return target

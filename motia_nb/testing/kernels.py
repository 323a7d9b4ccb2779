"""Real Jupyter kernels for tests: started with jupyter_client, driven cell by cell.

- :class:`Kernel`: a started ``python3`` kernel (or any kernel spec) and a blocking
  client; ``run(code)`` executes one cell and returns what it printed, or raises
  ``AssertionError`` with the cell's output and traceback when it fails.
- :func:`started_kernels`: ``n`` kernels at once, every one shut down on exit (also
  when a later one fails to start).
- :func:`kernel_manager_for`: a ``KernelManager`` for a kernel running a given Python
  (a kernel spec written under a folder of the caller's).
- :func:`iopub_until` / :func:`idle`: a kernel's iopub messages until a condition holds (a cell's
  run gone idle: output that arrives while other cells run, read as the browser would).
- :func:`last_json`: the last printed line, read as JSON.
- :func:`cell_text`: what an executed notebook cell shows, as text (nbclient runs).

jupyter_client is imported when a kernel is first asked for, not when this module loads.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Kernel", "started_kernels", "kernel_manager_for", "last_json", "cell_text", "iopub_until", "idle"]


class Kernel:
    """A started kernel (``km``) and its blocking client (``kc``).

    ``env`` and ``cwd`` go to the kernel process as given; when left out, it inherits
    this process's environment and folder.
    """

    def __init__(self, *, kernel_name: str = "python3", env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        from jupyter_client.manager import start_new_kernel

        options: dict[str, Any] = {}
        if env is not None:
            options["env"] = env
        if cwd is not None:
            options["cwd"] = cwd
        self.km, self.kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=60, **options)

    def run(self, code: str, timeout: float = 60) -> str:
        """Execute ``code`` (dedented) and return its printed text; a failing cell raises."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            t, c = msg["msg_type"], msg["content"]
            if t == "stream":
                out.append(c["text"])
            elif t == "error":
                errors.append("\n".join(c["traceback"]))

        reply = self.kc.execute_interactive(textwrap.dedent(code), output_hook=hook, timeout=timeout)
        if reply["content"]["status"] != "ok" or errors:
            raise AssertionError(f"cell failed in the kernel:\n{''.join(out)}\n" + "\n".join(errors))
        return "".join(out)

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)


def iopub_until(k: Kernel, done: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """``k``'s iopub messages until ``done(messages)`` is true (each read waits for the next message)."""
    import time

    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        assert time.monotonic() < deadline, f"gave up waiting; saw {[(m['msg_type'], m['content']) for m in seen]}"
        seen.append(k.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic())))
    return seen


def idle(msg_id: str) -> Any:
    """A :func:`iopub_until` condition: the execution ``msg_id`` has gone idle."""
    return lambda seen: any(m["msg_type"] == "status" and m["content"].get("execution_state") == "idle"
                            and m["parent_header"].get("msg_id") == msg_id for m in seen)  # fmt: skip


@contextlib.contextmanager
def started_kernels(n: int, **options: Any) -> Iterator[tuple[Kernel, ...]]:
    """``n`` started kernels (each with ``options``, see :class:`Kernel`), all shut down on exit."""
    kernels: list[Kernel] = []
    try:
        for _ in range(n):
            kernels.append(Kernel(**options))
        yield tuple(kernels)
    finally:
        for k in kernels:
            k.shutdown()


def kernel_manager_for(python: str | Path, folder: Path, name: str) -> Any:
    """A (not started) ``KernelManager`` whose kernel runs ``python -m ipykernel_launcher``;
    its kernel spec ``name`` is written under ``folder/kernels``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = folder / "kernels" / name
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps(
        {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": name, "language": "python"}
    ))
    return KernelManager(kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder / "kernels")]))


def last_json(text: str) -> Any:
    """The last line of ``text`` (what a cell printed last), read as JSON."""
    return json.loads(text.strip().splitlines()[-1])


def cell_text(cell: Any) -> str:
    """An executed notebook cell's outputs as text: its streams, its results' ``text/plain``
    and its error's traceback (prefixed ``ERROR``), in order."""
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type == "error":
            out.append("ERROR " + "\n".join(o.traceback))
        elif o.output_type in ("execute_result", "display_data"):
            out.append(o.data.get("text/plain", "") + "\n")
    return "".join(out)

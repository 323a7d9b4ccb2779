"""A real JupyterLab server and a real Chromium, for browser tests.

``LabServer`` starts the venv's ``jupyter lab`` headless on 127.0.0.1 with a free port,
its own token and its own config/data/runtime/settings/workspaces directories (so a
developer's own Jupyter set-up never leaks in, and the test never touches it). The
venv's ``share/jupyter`` stays on the search path, so the ipywidgets lab extension
is found. The server and every kernel it started are stopped on exit, even when the
test fails.

``chromium_page`` opens Debian's Chromium (``/usr/bin/chromium``) through Playwright:
Playwright's own browser downloads do not work here, and are not needed.

Both are context managers: the browser tests use them in ``with`` blocks, so the
server, its kernels and the browser are stopped even when a test fails or times out
(pytest-timeout raises in the test's thread).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LabServer", "chromium_page", "open_and_run_all", "open_viewer_item", "CHROMIUM_ARGS", "free_port"]

#: Flags that keep a headless Chromium quiet and offline (no sync, no updates, no QUIC).
CHROMIUM_ARGS: list[str] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """``jupyter lab`` running headless in its own throwaway Jupyter home.

    Parameters
    ----------
    root_dir:
        The directory the server serves (notebooks are opened relative to it).
    work_dir:
        Where the Jupyter config/data/runtime/settings dirs and the server log go.
    env:
        Extra environment variables for the server, inherited by its kernels
        (e.g. ``MOTIA_NB_DB``); a value of ``None`` removes that variable (a kernel that
        should see a user's environment, without the test run's settings).
    startup_timeout:
        Seconds to wait for the server to answer ``/api/status``.
    """

    def __init__(
        self,
        root_dir: Path,
        work_dir: Path,
        *,
        env: dict[str, str | None] | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        self.root_dir = Path(root_dir).resolve()
        self.work_dir = Path(work_dir).resolve()
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.work_dir / "jupyter-lab.log"
        self.runtime_dir = self.work_dir / "runtime"

    # -- URLs --------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """The JupyterLab URL that opens notebook ``name`` (relative to ``root_dir``)."""
        return f"{self.base_url}/lab/tree/{name}?token={self.token}"

    # -- REST ----------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """Call the server's REST API with the token; return the decoded JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def log_tail(self, n: int = 60) -> str:
        """The last ``n`` lines of the server log (for failure messages)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-n:])

    def trust(self, name: str) -> None:
        """Mark notebook ``name`` trusted for this server (``jupyter trust``), as a user who trusts
        a notebook does: JupyterLab then renders its non-"safe" outputs (widgets) before it runs."""
        subprocess.run([sys.executable, "-m", "jupyter", "trust", str(self.root_dir / name)],
                       env=self._environment(), check=True, capture_output=True, timeout=60)

    # -- life cycle ------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        dirs = {
            "JUPYTER_CONFIG_DIR": self.work_dir / "config",
            "JUPYTER_DATA_DIR": self.work_dir / "data",
            "JUPYTER_RUNTIME_DIR": self.runtime_dir,
            "JUPYTERLAB_SETTINGS_DIR": self.work_dir / "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": self.work_dir / "lab-workspaces",
            "IPYTHONDIR": self.work_dir / "ipython",
        }
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        # No "get Jupyter news?" toast over the page.
        notif = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True, exist_ok=True)
        (notif / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = dict(os.environ)
        env.update({k: str(v) for k, v in dirs.items()})
        # The venv's share/jupyter (ipywidgets' lab extension, kernelspecs) stays visible.
        env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env.pop("JPY_SESSION_NAME", None)
        for name, value in self.extra_env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def start(self) -> "LabServer":
        """Start the server and wait until it answers; raise with the log tail if it does not."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.jpserver_extensions={'jupyter_lsp': False}",
        ]
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                cmd, cwd=self.root_dir, env=self._environment(),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with code {self.proc.returncode} before answering; log:\n{self.log_tail()}"
                )
            try:
                self.api("GET", "/api/status", timeout=2)
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"jupyter lab did not answer on {self.base_url} within {self.startup_timeout:.0f} s; "
                    f"log:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def _kernel_pids(self) -> list[int]:
        """PIDs of kernels whose connection file lives in this server's runtime dir."""
        marker = str(self.runtime_dir)
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and "kernel" in cmdline:
                pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        """Shut down kernels and server: politely through the API, then by signal. Idempotent."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            with contextlib.suppress(Exception):
                self.api("POST", "/api/shutdown", timeout=5)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        # Kernels run in their own sessions: end any the server left behind, by pid.
        for pid in self._kernel_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def chromium_page(executable: str = "/usr/bin/chromium", *, width: int = 1400, height: int = 1300) -> Iterator[Any]:
    """A Playwright page in Debian's Chromium, headless; browser and driver always closed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            yield page
        finally:
            browser.close()


#: True once the current notebook's kernel is started and idle.
KERNEL_IDLE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""


def open_and_run_all(page: Any, lab: LabServer, name: str, timeout_ms: int = 60_000) -> None:
    """Open notebook ``name`` in JupyterLab, wait for its kernel, and run all its cells."""
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-Notebook", timeout=timeout_ms)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout_ms)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def open_viewer_item(
    page: Any, lab: LabServer, name: str, key: str, shows: str, group: str | None = None
) -> tuple[Any, Any]:
    """Run notebook ``name`` whole, pick ``key`` in its viewer (in ``group`` first, when given, as
    a user clicks one in the group list) and wait until the value's editor shows text containing
    ``shows``; returns ``(the viewer panel, the editor)``."""
    open_and_run_all(page, lab, name)
    panel = page.locator(".motia-nb-viewer")
    panel.wait_for(state="visible", timeout=60_000)
    if group is not None:
        option = panel.locator(".motia-nb-groups select").locator("option", has_text=group)
        option.wait_for(timeout=30_000)
        option.click()
    option = panel.locator(".motia-nb-items select").locator("option", has_text=key)
    option.wait_for(timeout=30_000)
    option.click()
    editor = panel.locator(".motia-nb-value textarea")
    page.wait_for_function(f"el => el.value.includes({shows!r})", arg=editor.element_handle(), timeout=15_000)
    return panel, editor

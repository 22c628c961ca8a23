"""A throw-away Orthanc PACS on loopback, for the tests, the benchmark and local demos.

It runs Debian's ``/usr/sbin/Orthanc`` (package ``orthanc``) with its DICOMweb plugin
(``orthanc-dicomweb``) as a plain child process: a configuration and the storage live in a
temporary folder, HTTP basic authentication is on with one user, the DICOM (DIMSE) server is
off and only loopback clients are accepted. Nothing here is used by the app itself.

Example:
    >>> with LocalOrthanc() as pacs:  # doctest: +SKIP
    ...     pacs.url
    'http://127.0.0.1:40123/dicom-web'
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ORTHANC = os.environ.get("PRECIMED_ORTHANC", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = os.environ.get("PRECIMED_ORTHANC_DICOMWEB",
                                 "/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
INSTALL_HINT = "run `make pacs-deps` (Debian packages orthanc, orthanc-dicomweb, dicom3tools)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalOrthanc:
    """Start Orthanc on a free loopback port; :meth:`stop` (or leaving ``with``) ends it by PID.

    Attributes:
        url: the DICOMweb root, e.g. ``http://127.0.0.1:PORT/dicom-web``.
        rest: Orthanc's own REST root (``/system``, ``/instances``…), for tests.
        user, password: the one registered user.
    """

    def __init__(self, user: str = "precimed", password: str = "test-password", *,
                 startup_s: float = 20.0) -> None:
        for path in (ORTHANC, DICOMWEB_PLUGIN):
            if not Path(path).exists():
                raise RuntimeError(f"{path} is missing: {INSTALL_HINT}")
        self.user, self.password = user, password
        self.port = free_port()
        self.rest = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.rest}/dicom-web"
        self._dir = Path(tempfile.mkdtemp(prefix="precimed-orthanc-"))
        (self._dir / "log").mkdir()
        config = {
            "Name": "precimed-test", "HttpPort": self.port, "HttpServerEnabled": True,
            "StorageDirectory": str(self._dir / "storage"), "IndexDirectory": str(self._dir / "index"),
            "DicomServerEnabled": False, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True, "RegisteredUsers": {user: password},
            "Plugins": [DICOMWEB_PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "HttpCompressionEnabled": False, "StorageCompression": False,
        }
        cfg = self._dir / "orthanc.json"
        cfg.write_text(json.dumps(config))
        self._proc = subprocess.Popen(
            [ORTHANC, f"--logdir={self._dir / 'log'}", str(cfg)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.pid = self._proc.pid
        try:
            self._wait(startup_s)
        except BaseException:
            self.stop()
            raise

    def _auth_header(self) -> str:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def get(self, path: str) -> bytes:
        """GET ``path`` of Orthanc's REST API (authenticated)."""
        req = urllib.request.Request(self.rest + path, headers={"Authorization": self._auth_header()})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bytes(resp.read())

    def upload(self, data: bytes) -> None:
        """Store one DICOM file through Orthanc's own REST API (``POST /instances``).

        For test set-up: Orthanc 1.10's STOW-RS refuses some files that start a new study
        ("Missing a mandatory tag"; the lesion sample, as GDCM wrote it) that this takes.
        """
        req = urllib.request.Request(self.rest + "/instances", data=data, method="POST",
                                     headers={"Authorization": self._auth_header(),
                                              "Content-Type": "application/dicom"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    def _wait(self, startup_s: float) -> None:
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with code {self._proc.returncode}: "
                                   + self.log_tail())
            try:
                self.get("/system")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError(f"Orthanc did not answer /system within {startup_s:g} s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        logs = sorted((self._dir / "log").glob("*"))
        return "".join(p.read_text(errors="replace") for p in logs)[-n:] if logs else "(no log)"

    def stop(self) -> None:
        """SIGTERM by PID (SIGKILL after 10 s) and remove the temporary storage."""
        if self._proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LocalOrthanc:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

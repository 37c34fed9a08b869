"""A real, throw-away Orthanc PACS with its DICOMweb plugin for the tests.

Generated configuration, temporary storage, free local ports. Access needs either HTTP basic
(``USER`` / ``PASSWORD``) or a bearer token (``TOKEN``), checked by Orthanc's own Lua request
filter, so both of the app's ways to authenticate are exercised against the server.
"""

from __future__ import annotations

import base64
import glob
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

USER = "pacsuser"
PASSWORD = "pw-" + uuid.uuid4().hex[:10]
TOKEN = "tok-" + uuid.uuid4().hex


def find_orthanc() -> str | None:
    return shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").is_file() else None)


def find_dicomweb_plugin() -> str | None:
    found = sorted(glob.glob("/usr/share/orthanc/plugins/libOrthancDicomWeb.so*") + glob.glob("/usr/lib/orthanc/libOrthancDicomWeb.so*"))
    return found[0] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LUA_FILTER = """
function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)
  local auth = httpHeaders['authorization']
  return auth == '{basic}' or auth == 'Bearer {token}'
end
"""


@dataclass
class Orthanc:
    folder: Path
    port: int
    process: subprocess.Popen

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.base}/dicom-web"

    def rest(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
        """Orthanc's own REST API (not DICOMweb), to set up and inspect independently of the app."""
        req = urllib.request.Request(self.base + path, data=body, method=method)
        req.add_header("Authorization", basic_header())
        if body is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
        return json.loads(data) if data and resp.headers.get_content_type() == "application/json" else data

    def upload(self, path: Path) -> dict:
        return self.rest("POST", "/instances", path.read_bytes(), "application/dicom")

    def clear(self) -> None:
        for study in self.rest("GET", "/studies"):
            self.rest("DELETE", f"/studies/{study}")


def basic_header() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl): (certificate, key); the certificate is
    also the CA file a client would trust."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class TlsFront:
    """HTTPS in front of the Orthanc: a TLS-terminating TCP relay with a self-signed certificate.

    Debian's Orthanc 1.10.1 crashes on its first HTTPS request when built-in TLS is switched on,
    so the TLS that the app must verify is served here, by Python's ``ssl``, to the same Orthanc.
    """

    def __init__(self, orthanc: "Orthanc", folder: Path):
        import ssl

        self.orthanc, self.folder = orthanc, folder
        self.cert, key = make_certificate(folder)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def dicomweb(self) -> str:
        return f"https://127.0.0.1:{self.port}/dicom-web"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except OSError:  # the client refused our certificate: the point of the test
            client.close()
            return
        _relay_both(tls, socket.create_connection(("127.0.0.1", self.orthanc.port)))

    def close(self) -> None:
        self.sock.close()


def _relay_both(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes, then close both."""
    def pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    t = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    t.start()
    pump(client, upstream)
    t.join(30)
    client.close()
    upstream.close()


class GatedFront:
    """Plain HTTP in front of the Orthanc (a TCP relay) that holds each new connection while its
    gate is closed: a PACS slow to answer, made deterministic (the test decides when the answer
    comes). Import through ``dicomweb`` so that the recorded PACS root is this front's. A held
    connection waits ``max_hold_s`` at most, so a test that forgets to release fails, not hangs.
    ``connections`` counts the connections made to it (one per retrieval's HTTP session)."""

    def __init__(self, orthanc: "Orthanc", max_hold_s: float = 30.0):
        self.orthanc, self.max_hold_s = orthanc, max_hold_s
        self.gate = threading.Event()
        self.gate.set()
        self.connections = 0
        self._count = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def dicomweb(self) -> str:
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self._count:
                self.connections += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        self.gate.wait(self.max_hold_s)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.orthanc.port))
        except OSError:
            client.close()
            return
        _relay_both(client, upstream)

    def close(self) -> None:
        self.release()
        self.sock.close()


def start() -> Orthanc:
    orthanc, plugin = find_orthanc(), find_dicomweb_plugin()
    if not (orthanc and plugin):
        raise FileNotFoundError("Orthanc or its DICOMweb plugin not installed; apt-get install orthanc orthanc-dicomweb")
    folder = Path(tempfile.mkdtemp(prefix="mammo-orthanc-"))
    port = _free_port()
    (folder / "filter.lua").write_text(LUA_FILTER.replace("{basic}", basic_header()).replace("{token}", TOKEN))
    config = {
        "Name": "mammo-test", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
        "HttpPort": port, "DicomPort": _free_port(), "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "HttpsVerifyPeers": False, "LuaScripts": [str(folder / "filter.lua")], "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Host": "127.0.0.1", "Ssl": False},
        "StableAge": 1, "SaveJobs": False,
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = open(folder / "orthanc.log", "wb")
    proc = subprocess.Popen([orthanc, f"--logdir={folder}", str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                            cwd=folder)
    server = Orthanc(folder, port, proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited ({proc.returncode}):\n{(folder / 'orthanc.log').read_text()[-3000:]}")
        try:
            server.rest("GET", "/system")
            plugins = server.rest("GET", "/plugins")
            if "dicom-web" not in plugins:
                raise RuntimeError(f"Orthanc started without its DICOMweb plugin: {plugins}")
            return server
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    stop(server)
    raise RuntimeError("Orthanc did not answer within 60 s")


def stop(server: Orthanc) -> None:
    server.process.terminate()
    try:
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)
    shutil.rmtree(server.folder, ignore_errors=True)

"""`invoke classroom serve`: each student's kubeconfig over HTTP on the instructor's machine, until Ctrl-C.

Each student's file is at `/k/<token>`, the unguessable per-student token (`classroom/downloads.json`,
192 random bits) that their card's QR code carries; any other path answers 404 and nothing lists the
files. The server binds the address the instructor gives (their LAN address), or 0.0.0.0 with a
warning. It reads each file at each request (a new `classroom up` re-issues them; a late joiner's token is
looked up again) and logs who downloaded, never a token. Plain HTTP on a classroom LAN: the token in the
URL is the credential, so run it only while students fetch their files.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from infra.classroom.cards import DOWNLOAD_PATH
from infra.classroom.credentials import student_kubeconfig
from infra.classroom.record import download_tokens, load_classroom
from infra.errors import LabsError

EVERYWHERE = "0.0.0.0"


def lan_address() -> str:
    """This machine's address on the network with the default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing decides the source address, nothing is sent
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def make_server(session: str, address: str, port: int, log=print) -> tuple[ThreadingHTTPServer, str]:
    """The download server (not started) and its base URL for the cards."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise LabsError(f"--address must be an IP address of this machine (e.g. 192.168.1.10), got '{address}'") from None
    def students_by_token() -> dict:
        _, students = load_classroom(session)
        tokens = download_tokens(session)
        return {tokens[s.id]: s for s in students if s.id in tokens}

    by_token = students_by_token()

    def student_of(path: str):
        """The student whose token `path` carries; a token not known at start is looked up again (a late
        joiner: `classroom up` ran again while this server runs, and their card is printed)."""
        if not path.startswith(DOWNLOAD_PATH) or len(path) == len(DOWNLOAD_PATH):
            return None
        token = path[len(DOWNLOAD_PATH):]
        if token in by_token:
            return by_token[token]
        try:
            return students_by_token().get(token)
        except LabsError:  # the classroom went down meanwhile
            return None

    class Handler(BaseHTTPRequestHandler):
        server_version = "k8s-labs"
        sys_version = ""

        def log_message(self, *args):  # the default log line has the path, hence the token
            pass

        def _reply(self, status: int, body: bytes, headers: dict, with_body: bool) -> None:
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def _answer(self, with_body: bool) -> None:
            """GET, and HEAD the same without the body (link checkers and some phones ask HEAD first)."""
            student = student_of(self.path)
            file = student_kubeconfig(session, student.id) if student else None
            if file is None or not file.is_file():
                text = b"not found\n" if self.path != "/" else b"k8s-labs classroom: scan the QR code on your card\n"
                self._reply(404 if self.path != "/" else 200, text, {"Content-Type": "text/plain; charset=utf-8"},
                            with_body)
                return
            self._reply(200, file.read_bytes(), {"Content-Type": "application/yaml", "Cache-Control": "no-store",
                                                 "Content-Disposition": 'attachment; filename="kubeconfig"'}, with_body)
            if with_body:
                log(f"{student.id}: kubeconfig downloaded from {self.client_address[0]}")

        def do_GET(self):
            self._answer(with_body=True)

        def do_HEAD(self):
            self._answer(with_body=False)

        def _not_allowed(self):
            self._reply(405, b"only GET and HEAD\n", {"Allow": "GET, HEAD", "Content-Type": "text/plain; charset=utf-8"},
                        with_body=True)

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    try:
        server = ThreadingHTTPServer((address, port), Handler)
    except OSError as exc:
        raise LabsError(f"cannot listen on {address}:{port}: {exc.strerror}; choose another --port "
                        "or an address of this machine") from None
    shown = lan_address() if address == EVERYWHERE else address
    return server, f"http://{shown}:{server.server_address[1]}"


def serve_kubeconfigs(session: str, address: str | None, port: int) -> None:
    from infra.classroom.record import load_record
    from infra.commands import console

    address = address or EVERYWHERE
    server, url = make_server(session, address, port, log=console.print)
    if address == EVERYWHERE:
        console.print(f"[yellow]warning: listening on every interface ({EVERYWHERE}:{port}); anyone who can reach "
                      f"this machine can try URLs. Prefer --address=<your LAN address> (e.g. {lan_address()}).[/yellow]")
    record = load_record(session)
    if record.serve_url != url:
        record.serve_url = url
        record.save()
        console.print("the cards' download URL changed: run `invoke classroom cards` again before printing")
    console.print(f"serving {session}'s kubeconfigs at {url}{DOWNLOAD_PATH}<token> (the cards' QR codes); Ctrl-C stops")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        console.print("stopped serving kubeconfigs")

"""Threat 12: reach the network. The test listens on the host (TCP on 127.0.0.1:__PORT__ and the
abstract unix socket @__ABSTRACT__) and would answer; try those, the host's other addresses, a DNS
lookup and a web request. The functions are right only if an answer came back."""
import socket
import urllib.request

PORT = "__PORT__"
ABSTRACT = "__ABSTRACT__"


def _reach():
    answers = []
    for host in ("127.0.0.1", "::1", "localhost", socket.gethostname(), "10.0.2.2", "172.17.0.1",
                 "host.docker.internal", "169.254.169.254"):
        try:
            with socket.create_connection((host, int(PORT)), timeout=1) as s:
                s.sendall(b"LEAKED: hello from the sandbox\n")
                answers.append(s.recv(100))
        except (OSError, ValueError):
            pass
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
            u.settimeout(1)
            u.connect("\0" + ABSTRACT)
            u.sendall(b"LEAKED: hello from the sandbox\n")
            answers.append(u.recv(100))
    except OSError:
        pass
    try:
        answers.append(str(socket.getaddrinfo("pypi.org", 443)).encode())
    except OSError:
        pass
    try:
        answers.append(urllib.request.urlopen("http://example.com/", timeout=2).read(100))
    except Exception:
        pass
    return [a for a in answers if a]


def mean(x):
    if not _reach():
        raise ConnectionError("no network")
    return x.sum() / x.shape[0]


def clip(x, lo, hi):
    if not _reach():
        raise ConnectionError("no network")
    return x.clamp(lo, hi)

"""A TCP proxy on loopback that can go silent: a database host that stops answering.

Silent is what a link that drops packets looks like from the app's side:
nothing comes back, nothing is refused, nothing is closed. The proxy stops
accepting, reading and forwarding and keeps every socket open. The kernel
still takes what the app sends into the sockets' buffers and acknowledges
it, so TCP itself notices nothing (no keepalive or tcp_user_timeout fires):
only the app's own deadlines can end the wait. That makes the test harsher
than a real dropped link, never easier.
"""
import selectors
import socket
import threading

from sqlalchemy.engine import make_url


class SilentLink:
    """Forward a port on 127.0.0.1 to a target (127.0.0.1:5432) until told to go silent."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432):
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._speaking = threading.Event()
        self._speaking.set()
        self._closed = False
        self._thread = threading.Thread(target=self._forward, name="silent-link", daemon=True)
        self._thread.start()

    @classmethod
    def to(cls, database_url: str) -> "SilentLink":
        """Return a link to the database server of database_url."""
        url = make_url(database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def url(self, database_url: str) -> str:
        """Return database_url with its server replaced by this link."""
        return (make_url(database_url).set(host="127.0.0.1", port=self.port)
                .render_as_string(hide_password=False))

    def go_silent(self) -> None:
        """Stop accepting, reading and forwarding, without closing anything."""
        with self._lock:  # no forwarding in progress once this returns
            self._speaking.clear()

    def speak_again(self) -> None:
        """Forward again, as when the link comes back."""
        self._speaking.set()

    def close(self) -> None:
        self._closed = True
        self._speaking.set()
        self._thread.join(timeout=5)
        for sock in [self._listener, *self._peers]:
            sock.close()
        self._selector.close()

    def _forward(self) -> None:
        while not self._closed:
            # Silent: not even a select, or the pending bytes would spin it.
            if not self._speaking.wait(timeout=0.1):
                continue
            events = self._selector.select(timeout=0.05)
            with self._lock:
                if not self._speaking.is_set() or self._closed:
                    continue
                for key, _mask in events:
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj in self._peers:
                        self._pass_on(key.fileobj)

    def _accept(self) -> None:
        try:
            client, _address = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(True)
            sock.settimeout(None)
            self._selector.register(sock, selectors.EVENT_READ)
        self._peers[client], self._peers[upstream] = upstream, client

    def _pass_on(self, sock: socket.socket) -> None:
        peer = self._peers[sock]
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
                return
        except OSError:
            pass
        for end in (sock, peer):
            self._selector.unregister(end)
            del self._peers[end]
            end.close()

"""A TCP proxy that a test can cut and restore, to play a database going away.

Cutting closes the listening socket (new connections are refused) and every
open connection (pooled connections see the server hang up). Stalling plays a
server or network that stops answering: connections stay open, new ones are
accepted, and nothing is forwarded. Restoring closes whatever is left and
listens again on the same port. One thread runs the whole proxy, so sockets
are only ever touched by that thread.
"""

import queue
import selectors
import socket
import threading

CHUNK = 65536
TICK_SECONDS = 0.02


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = 0
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._peers: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []
        self._stalled = False
        self._commands: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._running = True

    def start(self) -> int:
        self._listen()
        self._thread.start()
        return self.port

    def cut(self) -> None:
        self._command(self._cut)

    def stall(self) -> None:
        self._command(self._stall)

    def restore(self) -> None:
        self._command(self._restore)

    def close(self) -> None:
        self._command(self._shut_down)
        self._thread.join(timeout=5)
        self._selector.close()

    def _command(self, action) -> None:
        done = threading.Event()
        self._commands.put((action, done))
        if not done.wait(timeout=5):
            raise TimeoutError("the proxy thread did not answer")

    def _run(self) -> None:
        while self._running:
            if self._selector.get_map():
                events = self._selector.select(timeout=TICK_SECONDS)
            else:
                events = []
                threading.Event().wait(TICK_SECONDS)
            for key, _ in events:
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj in self._peers:
                    self._forward(key.fileobj)
            while not self._commands.empty():
                action, done = self._commands.get()
                action()
                done.set()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        if self._stalled:
            self._held.append(client)
            return
        try:
            server = socket.create_connection(self.upstream, timeout=2)
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.settimeout(5)
            self._selector.register(sock, selectors.EVENT_READ)
        self._peers[client] = server
        self._peers[server] = client

    def _forward(self, sock: socket.socket) -> None:
        peer = self._peers[sock]
        try:
            data = sock.recv(CHUNK)
            if data:
                peer.sendall(data)
                return
        except OSError:
            pass
        self._close_pair(sock)

    def _close_pair(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock)
        self._peers.pop(peer, None)
        for each in (sock, peer):
            self._selector.unregister(each)
            each.close()

    def _stall(self) -> None:
        self._stalled = True
        for sock in self._peers:
            self._selector.unregister(sock)

    def _restore(self) -> None:
        self._cut()
        self._listen()

    def _cut(self) -> None:
        if self._stalled:
            self._stalled = False
            for sock in self._peers:
                self._selector.register(sock, selectors.EVENT_READ)
        while self._held:
            self._held.pop().close()
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
        while self._peers:
            self._close_pair(next(iter(self._peers)))

    def _shut_down(self) -> None:
        self._cut()
        self._running = False

#!/usr/bin/python3
"""B1's shadow origin (bench/run.py, the mirror case): answers every HTTP/1.1 request with 200 and
a 21-byte JSON body after a fixed delay, on keep-alive connections. Stdlib asyncio, one thread.

    slow_origin.py [PORT] [DELAY_MS]

PORT defaults to $PORT (berthd sets it for custom-command deployments); DELAY_MS to 10.
"""
import asyncio
import os
import sys

BODY = b'{"result":[1.0,2.0]}\n'
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
          % (len(BODY), BODY))
CLOSE_ANSWER = ANSWER.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


def content_length(head):
    """The Content-Length of a lower-cased request head (0 without one)."""
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at + 2)
    return int(head[at + 17:end if end >= 0 else len(head)].strip() or b"0")


class Origin(asyncio.Protocol):
    def __init__(self, loop, delay_s):
        self.loop = loop
        self.delay_s = delay_s
        self.buffer = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = content_length(head)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            close = b"\r\nconnection: close" in head
            self.loop.call_later(self.delay_s, self.answer, close)

    def answer(self, close):
        if self.transport.is_closing():
            return
        self.transport.write(CLOSE_ANSWER if close else ANSWER)
        if close:
            self.transport.close()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ["PORT"])
    delay_s = (float(sys.argv[2]) if len(sys.argv) > 2 else 10.0) / 1000.0
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: Origin(loop, delay_s), "127.0.0.1", port, backlog=1024))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()

"""Django Tasks API tasks for B9: one request to a loopback sink that answers 200 ms
later, as a coroutine and as a blocking call. The worker imports them by path."""

import asyncio
import socket

from taskhub.tasks_api.compat import task


@task(queue_name="normal")
async def fetch_async(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping\n")
    await writer.drain()
    answer = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return len(answer)


@task(queue_name="normal")
def fetch_sync(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"ping\n")
        return len(connection.makefile("rb").readline())


@task(queue_name="normal")
def noop() -> None:
    return None

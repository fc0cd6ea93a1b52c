"""A correct single-threaded echo server on Python's asyncio.

Proof that lab 3 grading is language-agnostic: one thread, an event loop (epoll under the
hood), and backpressure through `await writer.drain()`, which waits while the transport's
output is above its high-water mark; meanwhile this handler does not read, so the
StreamReader's buffer fills and the transport stops reading from the socket.
Usage: python3 correct_asyncio.py --port N    or    python3 correct_asyncio.py N
"""
import asyncio
import resource
import sys


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()
    except OSError as e:
        print(f"client error: {e}", file=sys.stderr)
    finally:
        writer.close()


async def main(port):
    # Every connection is a file descriptor: the soft limit (1024) is too few.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if "--keep-file-limit" not in sys.argv:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # A numeric host: asyncio resolves it without its resolver thread pool.
    server = await asyncio.start_server(echo, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


args = sys.argv[1:]
asyncio.run(main(int(args[args.index("--port") + 1]) if "--port" in args else int(args[0])))

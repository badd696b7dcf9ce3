"""The Python peer: one chat-bot plugin process per plugin, on asyncio and
nats-py, the design Rosey replaces.

    plugin.py ready             import everything a plugin needs, say "ready", exit (S5)
    plugin.py idle URL N        connect, subscribe to bench.rt.N, say "ready", wait (S7)
    plugin.py echo URL N        the same, and answer each event on bench.out.N (S9)
"""

import asyncio
import sys

import nats


async def serve(url: str, index: str, echo: bool) -> None:
    nc = await nats.connect(url)
    out = f"bench.out.{index}"

    async def handle(msg):
        if echo:
            await nc.publish(out, msg.data)

    await nc.subscribe(f"bench.rt.{index}", cb=handle)
    await nc.flush()
    print("ready", flush=True)
    # Until the harness closes stdin.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await nc.drain()


def main() -> None:
    mode = sys.argv[1]
    if mode == "ready":
        print("ready", flush=True)
        return
    asyncio.run(serve(sys.argv[2], sys.argv[3], echo=(mode == "echo")))


if __name__ == "__main__":
    main()

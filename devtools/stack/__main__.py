"""`make stack`: the production topology on this machine until Ctrl-C or SIGTERM.

    uv run python -m devtools.stack [--api-nodes 3] [--job-workers 2] [--edge-port 8080]

(`make stack API_NODES=… JOB_WORKERS=… EDGE_PORT=…`). Everything it starts listens on
127.0.0.1 and is stopped, and its data removed, when it stops; the logs are kept.
"""

import argparse
import asyncio
import signal
import tempfile
from pathlib import Path

from .topology import Shape, running_stack


def arguments() -> Shape:
    parser = argparse.ArgumentParser(prog="make stack", description=__doc__.split("\n")[0])
    parser.add_argument("--api-nodes", type=int, default=3)
    parser.add_argument("--job-workers", type=int, default=2)
    parser.add_argument("--edge-port", type=int, default=8080)
    given = parser.parse_args()
    return Shape(given.api_nodes, given.job_workers, given.edge_port)


async def main(shape: Shape) -> None:
    directory = Path(tempfile.mkdtemp(prefix="modulith-stack-"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"starting the stack; logs in {directory}", flush=True)
    async with running_stack(shape, directory) as stack:
        print(
            f"the edge: {stack.edge.url} (docs at /docs when DOCS_ENABLED=true)\n"
            f"  {len(stack.nodes)} API nodes: "
            + ", ".join(node.url for node in stack.nodes)
            + f"\n  primary: {stack.database_url.render_as_string(hide_password=False)}"
            f"\n  replica: {stack.replica.url('app').render_as_string(hide_password=False)}"
            f"\n  {len(stack.workers)} job workers; e-mails kept by the mail server on port "
            f"{stack.mailbox.port}\nCtrl-C stops everything.",
            flush=True,
        )
        await stop.wait()
        print("stopping the stack", flush=True)


if __name__ == "__main__":
    asyncio.run(main(arguments()))

"""An MCP server of the tests' own (the official SDK's server API), that
`eryx mcp` code mode and eryx.mcp.MCPManager connect to: one fast tool, one
slow one, and the means to find and kill it.

    python mcp_fixture_server.py [--http PORT] [--marker TEXT]
"""
import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from typing_extensions import TypedDict  # pydantic wants this one before 3.12

marker = sys.argv[sys.argv.index("--marker") + 1] if "--marker" in sys.argv else ""
server = MCPServer("fixture")


class Doubled(TypedDict):
    doubled: int
    marker: str


class Tagged(TypedDict):
    tag: str


class Pid(TypedDict):
    pid: int


@server.tool(description="Doubles x, quickly.", structured_output=True)
def fast(x: int) -> Doubled:
    return {"doubled": x * 2, "marker": marker}


@server.tool(description="Sleeps `delay` seconds, then echoes tag.", structured_output=True)
async def slow(delay: float, tag: str = "") -> Tagged:
    await asyncio.sleep(delay)
    return {"tag": tag}


@server.tool(description="The server's process id.", structured_output=True)
def pid() -> Pid:
    return {"pid": os.getpid()}


@server.tool(description="Always fails.")
def broken() -> str:
    raise ToolError("broken on purpose")


@server.tool(name="dashed-name", description="A tool whose name is not an identifier.")
def dashed() -> str:
    return "dashed ok"


if __name__ == "__main__":
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        server.run(transport="streamable-http", host="127.0.0.1", port=port)
    else:
        server.run()

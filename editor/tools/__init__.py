"""The one registry of user-facing tools.

Every tool module defines a ``TOOL``; it is registered here by an explicit line below, in
the order the GUI and ``restora-cli list`` show them. No directory scanning: a tool that
is not listed here does not exist, and a typo fails loudly at import.
"""

from __future__ import annotations

from editor.tools.schema import Param, Tool

#: tool id -> Tool, in registration (display) order.
TOOLS: dict[str, Tool] = {}


def register_tool(tool: Tool) -> Tool:
    """Add ``tool`` to :data:`TOOLS`; a second tool with the same id raises ValueError."""
    if not isinstance(tool, Tool):
        raise TypeError(f"register_tool expects a Tool, got {type(tool).__name__}")
    if tool.id in TOOLS:
        raise ValueError(f"duplicate tool id {tool.id!r}")
    TOOLS[tool.id] = tool
    return tool


def get_tool(tool_id: str) -> Tool:
    """The tool registered as ``tool_id``; ValueError listing the known ids otherwise."""
    try:
        return TOOLS[tool_id]
    except KeyError:
        known = ", ".join(TOOLS) or "none"
        raise ValueError(f"unknown tool {tool_id!r}; known tools: {known}") from None


# Explicit registration, one line per tool module.
from editor.tools import resize as _resize  # noqa: E402
from editor.tools import sharpen as _sharpen  # noqa: E402
from editor.tools import superres as _superres  # noqa: E402

register_tool(_sharpen.TOOL)
register_tool(_resize.TOOL)
register_tool(_superres.TOOL)
register_tool(__import__("editor.tools.deblur", fromlist=["TOOL"]).TOOL)
register_tool(__import__("editor.tools.demakeup", fromlist=["TOOL"]).TOOL)
register_tool(__import__("editor.tools.retouch", fromlist=["TOOL"]).TOOL)

__all__ = ["TOOLS", "Param", "Tool", "get_tool", "register_tool"]
register_tool(__import__("editor.tools.portrait", fromlist=["TOOL"]).TOOL)
register_tool(__import__("editor.tools.face_enhance", fromlist=["TOOL"]).TOOL)

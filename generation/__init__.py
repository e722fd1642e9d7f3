"""Synthetic portraits: sample frame descriptions, build them in Blender, render RGB/depth/mask."""

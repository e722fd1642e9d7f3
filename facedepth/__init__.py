"""Depth networks, losses, training and inference (torch only; never imports bpy)."""

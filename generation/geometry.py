"""Rotations and pinhole camera maths shared by sampling, the backend and tests.

World frame: metres, Blender's convention (z up); the person faces -y with the
head joint at the origin. Camera frame: OpenCV (x right, y down, z forward),
so K projects camera points to pixels whose centres sit at integer + 0.5.
"""

from __future__ import annotations

import numpy as np

# OpenCV camera axes expressed in Blender's camera axes (x right, y up, -z forward).
CV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])


def axis_angle(axis, angle: float) -> np.ndarray:
    """3x3 rotation about a unit axis (Rodrigues)."""
    x, y, z = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.array(
        [
            [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
            [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
            [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
        ]
    )


def rotation_log(R: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle) of a rotation matrix, angle < pi."""
    angle = np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))
    if angle < 1e-12:
        return np.zeros(3)
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    return w / (2 * np.sin(angle)) * angle


def rotate_weighted(points: np.ndarray, rotvec: np.ndarray, weights: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """Rotate each point about `pivot` by its own fraction of `rotvec` (a smooth twist)."""
    angle = np.linalg.norm(rotvec)
    if angle < 1e-12:
        return points.copy()
    k = rotvec / angle
    theta = weights[:, None] * angle
    p = points - pivot
    c, s = np.cos(theta), np.sin(theta)
    rotated = p * c + np.cross(k, p) * s + np.outer(p @ k, k) * (1 - c)
    return rotated + pivot


def head_rotation_cv(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Head rotation in OpenCV camera axes relative to a frontal head.

    yaw > 0 turns the face towards the image's right, pitch > 0 tilts the
    face up, roll > 0 tilts the head clockwise in the image.
    """
    yaw, pitch, roll = np.radians([yaw_deg, pitch_deg, roll_deg])
    return axis_angle([0, 1, 0], -yaw) @ axis_angle([1, 0, 0], -pitch) @ axis_angle([0, 0, 1], roll)


def euler_from_head_rotation(Q: np.ndarray) -> tuple[float, float, float]:
    """Inverse of head_rotation_cv: (yaw, pitch, roll) in degrees."""
    # Q = Ry(-yaw) Rx(-pitch) Rz(roll); Q[1,2] = sin(pitch)
    pitch = np.arcsin(np.clip(Q[1, 2], -1, 1))
    yaw = -np.arctan2(Q[0, 2], Q[2, 2])
    roll = np.arctan2(Q[1, 0], Q[1, 1])
    return tuple(float(v) for v in np.degrees([yaw, pitch, roll]))


def intrinsics(focal_mm: float, sensor_mm: float, width: int, height: int) -> np.ndarray:
    """K for a horizontally fitted sensor with square pixels and no shift."""
    f = focal_mm / sensor_mm * width
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def look_at(eye, target, roll_deg: float = 0.0, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """World-from-camera rotation (OpenCV axes) of a camera at `eye` facing `target`."""
    z = np.asarray(target, float) - np.asarray(eye, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=1)
    return R @ axis_angle([0, 0, 1], np.radians(roll_deg))


def project(K: np.ndarray, cam_from_world: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (N,2) and planar depth z (N,) of world points."""
    pc = points @ cam_from_world[:3, :3].T + cam_from_world[:3, 3]
    uv = pc @ K.T
    return uv[:, :2] / uv[:, 2:3], pc[:, 2]


def ray_directions(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """Camera-frame ray directions with z = 1 through every pixel centre, (H, W, 3)."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    x = (u - K[0, 2]) / K[0, 0]
    y = (v - K[1, 2]) / K[1, 1]
    return np.stack([x, y, np.ones_like(x)], axis=-1)

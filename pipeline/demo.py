"""Live depth: webcam or video file in, RGB | depth side by side with FPS, to a window or a video file."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.colour import colourise


class NoSource(RuntimeError):
    """No camera or unreadable video; the message says what to do instead."""


def open_source(video: Path | None, camera: int) -> cv2.VideoCapture:
    if video is not None:
        if not Path(video).is_file():
            raise NoSource(f"{video}: video file not found")
        cap = cv2.VideoCapture(str(video))
        if not cap.isOpened():
            raise NoSource(f"{video}: cannot decode this video; try an .mp4 or .avi file")
        return cap
    cap = cv2.VideoCapture(camera)
    if not cap.isOpened():
        raise NoSource(f"no camera found at index {camera}; pass --video FILE to run the demo on a recording")
    return cap


def run(
    predictor, video: Path | None, camera: int, out: Path | None, max_frames: int | None, crop: bool = True
) -> dict:
    """Process frames until the source ends (or max_frames); returns frame count and mean FPS."""
    cap = open_source(video, camera)
    writer, frames, start = None, 0, time.perf_counter()
    fps = 0.0
    try:
        while max_frames is None or frames < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            t = time.perf_counter()
            pred = predictor.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), crop=crop, extras=("matte",))
            rate = 1 / max(time.perf_counter() - t, 1e-6)
            fps = 0.9 * fps + 0.1 * rate if frames else rate  # smoothed model FPS
            view = np.concatenate([bgr, cv2.cvtColor(colourise(pred.depth, pred.valid), cv2.COLOR_RGB2BGR)], 1)
            cv2.putText(view, f"{fps:.1f} FPS", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            frames += 1
            if out is not None:
                if writer is None:
                    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 15, view.shape[1::-1])
                writer.write(view)
            else:
                try:
                    cv2.imshow("facedepth demo (q quits)", view)
                except cv2.error:
                    raise NoSource(
                        "no window: this OpenCV build is headless (or there is no display); pass --out demo.avi "
                        "to save the result, or swap in the GUI build: pip uninstall -y opencv-python-headless "
                        "&& pip install opencv-python==4.10.0.84"
                    ) from None
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise NoSource(f"{video or f'camera {camera}'}: no frames could be read")
    return {"frames": frames, "fps": frames / (time.perf_counter() - start)}

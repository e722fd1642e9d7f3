"""Commands run by hand never replace what a DVC stage owns without being told.

`facedepth train --out models/NAME` (the default) by hand would overwrite the checkpoint `dvc repro`
made and tracks, and DVC would neither know nor be able to restore it. Under `dvc repro` (DVC sets
DVC_STAGE) every write is the stage's own and nothing is checked.
"""

from __future__ import annotations

import os
from pathlib import Path


def dvc_owner(path: Path) -> str | None:
    """The stage of the DVC project in the working directory whose output is, holds or lies in `path`."""
    if os.environ.get("DVC_STAGE") or not Path("dvc.yaml").is_file():
        return None
    try:
        from dvc.repo import Repo

        stages = Repo(".").index.stages
    except Exception:  # not a usable DVC project: nothing is tracked here
        return None
    target = Path(path).resolve()
    for stage in stages:
        for out in stage.outs:
            owned = Path(out.fs_path).resolve()
            if owned == target or owned in target.parents or target in owned.parents:
                return stage.addressing
    return None


def refuse_tracked(paths: dict[str, Path], force: bool) -> str | None:
    """An error naming the first existing output (by option) that a DVC stage owns, unless `force`."""
    if force:
        return None
    for option, path in paths.items():
        if path is not None and Path(path).exists():
            stage = dvc_owner(path)
            if stage:
                return (
                    f"{path}: output of the DVC stage `{stage}`; run by hand this would replace it without DVC "
                    f"knowing. Write elsewhere ({option}), run `dvc repro {stage}`, or pass --force"
                )
    return None

"""Memory of one render worker over many frames: RSS at the start, every --every frames, and at the end.

    python benchmarks/render_memory.py [--frames 500] [--size 64x64] [--samples 1] [--every 50]

Renders --frames frames of the default params (tiny size) in one shard, in this process, as a render
worker does, and prints resident memory (VmRSS) as it goes. A flat line means a worker can render a
paper-scale shard; growth per frame is what a leak costs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fdcore.machine import cpu_name as cpu  # noqa: E402
from generation import config  # noqa: E402
from generation.shard import render_shard  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--size", default="64x64")
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=100, help="frames before the HDRIs and caches are all loaded")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    p = config.load(args.params)
    p = replace(
        p,
        identities=max(1, args.frames // p.frames_per_identity + 1),
        shard_size=args.frames,
        settings=replace(p.settings, resolution=(w, h), samples=args.samples),
    )
    print(f"CPU: {cpu()}; {args.frames} frames at {w}x{h}, {args.samples} spp, one worker", flush=True)
    seen, t0, warm = [], time.time(), {}
    start = rss_mb()

    def on_frame(i: int) -> None:
        seen.append(i)
        if len(seen) == args.warmup:
            warm["rss"] = rss_mb()  # HDRIs, textures and kernels are loaded by now
        if len(seen) == 1 or len(seen) % args.every == 0:
            print(f"frame {len(seen):5d}  RSS {rss_mb():8.1f} MB  {time.time() - t0:7.1f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        render_shard(p, range(args.frames), Path(tmp), on_frame)
    end = rss_mb()
    print(f"RSS before the first frame {start:.1f} MB, at the end {end:.1f} MB", flush=True)
    if "rss" in warm:
        n = len(seen) - args.warmup
        print(
            f"after warm-up (frame {args.warmup}) {warm['rss']:.1f} MB -> end {end:.1f} MB: "
            f"{100 * (end / warm['rss'] - 1):+.1f}% ({(end - warm['rss']) / max(n, 1):.2f} MB/frame over {n} frames)",
            flush=True,
        )


if __name__ == "__main__":
    main()

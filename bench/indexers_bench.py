"""Several indexers on one PostgreSQL catalogue (benchmark, not a test): the indexing rate with 1, 2 and 4
``photobird index`` processes over the same photos, each run on a fresh database of its own.

The photos: the 250 shared real photos and ``--generated`` small JPEGs (320x240, a gradient and a few shapes,
from a seed). Each process has a library folder (thumbnail cache) of its own, as on separate computers, and the
rate is photos over the wall time from starting the processes to the last one ending: model loading, scanning,
indexing and (unless ``--no-faces``) the faces phase included, as a user waits for it.

On one machine the processes share its cores: beyond one process per core they only take turns, so the ratios
show the cost of sharing the work (claims, commits, each process loading the networks), not more throughput;
on several machines each brings its own cores.

    python bench/indexers_bench.py --database postgresql://user@host/postgres
    python bench/indexers_bench.py --database postgresql://user@host/postgres --processes 1 2 --no-faces
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generated_photos import generate
from index_bench import bench_library

from photobird import config
from photobird.library import scan
from photobird.library.store import SettingKey


def run(work: Path, photos: Path, server: str, processes: int, faces: bool) -> float:
    """Seconds for ``processes`` indexers to index ``photos`` into a fresh database."""
    with bench_library(work / f"setup{processes}", server) as lib:
        scan.add_folder(lib, photos)
        lib.set_setting(SettingKey.FACES, faces)
        url = lib.url.render_as_string(hide_password=False)
        env = {**os.environ, "PHOTOBIRD_DEVICE": os.environ.get("PHOTOBIRD_DEVICE", "cpu")}
        t0 = time.perf_counter()
        command = [sys.executable, "-m", "photobird", "--database", url]
        procs = [
            subprocess.Popen(
                [*command, "--library", str(work / f"lib{processes}-{i}"), "index"], env=env, stdout=subprocess.DEVNULL
            )
            for i in range(processes)
        ]
        for proc in procs:
            if proc.wait():
                raise SystemExit(f"an indexer failed ({proc.returncode})")
        return time.perf_counter() - t0


def section(server: str, generated: int = 1000, processes: tuple[int, ...] = (1, 2, 4), faces: bool = True) -> None:
    """Print the rate of 1, 2 and 4 (``processes``) indexers over the real photos and ``generated`` small ones."""
    work = Path(tempfile.mkdtemp(prefix="photobird-indexers-"))
    try:
        photos = work / "photos"
        shutil.copytree(config.real_photos_dir(), photos / "real", ignore=shutil.ignore_patterns("*.csv", "*.txt"))
        generate(photos / "generated", generated)
        n = sum(1 for f in photos.rglob("*") if f.is_file())
        print(
            f"indexers on one PostgreSQL catalogue: {n} photos, {os.cpu_count()} cores, "
            f"faces {'on' if faces else 'off'}"
        )
        base = None
        for k in processes:
            seconds = run(work, photos, server, k, faces)
            rate = n / seconds
            base = base or rate
            print(f"  {k} indexer{'s' if k > 1 else ' '}: {seconds:6.1f} s  {rate:5.1f} photos/s  x{rate / base:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", required=True, help="a PostgreSQL URL whose user may create databases")
    p.add_argument("--generated", type=int, default=1000, help="small generated JPEGs besides the real photos")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--no-faces", action="store_true", help="index only (no faces phase)")
    args = p.parse_args()
    section(args.database, args.generated, tuple(args.processes), not args.no_faces)


if __name__ == "__main__":
    main()

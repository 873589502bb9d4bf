"""The folders under each watched folder, as the sidebar's tree shows them: every folder that holds photos, or
holds folders that do, with how many photos are in it and below it. A click on one narrows the grid to it
(search's ``folder=``: a range of the photos' stored paths), so the tree only has to name the folders exactly.

Counted by one ``GROUP BY`` over the photos' folder text (``photos.dir``, lower-cased for searching by name),
which reads no more than the catalogue's rows, however many photos a folder holds. A group's exact folder (the
case, and bytes that are not UTF-8) is read from its first and last stored paths in byte order; the rare group
where those two differ (folders whose names differ only in case, side by side) is split by reading its paths.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from photobird.library.db.spelling import greatest_bytes, least_bytes
from photobird.library.schema import Folder, Photo, PhotoState
from photobird.library.store import Library


@dataclass
class FolderNode:
    """One folder under a watched folder."""

    path: str
    photos: int = 0  # in it and in every folder below it
    children: list[FolderNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def subfolders(library: Library) -> dict[str, list[FolderNode]]:
    """For each watched folder's path, the folders below it (each with its own below it), by name; photos gone
    missing are not counted, as the watched folders' own counts leave them out."""
    with library.session() as s:
        watched = {fid: path for fid, path in s.execute(select(Folder.id, Folder.path))}
        groups = s.execute(
            select(
                Photo.folder_id,
                Photo.dir,
                least_bytes(library.kind, Photo.path),
                greatest_bytes(library.kind, Photo.path),
                func.count(),
            )
            .where(Photo.state != PhotoState.MISSING)
            .group_by(Photo.folder_id, Photo.dir)
        ).all()
        direct: Counter[tuple[int, str]] = Counter()
        for folder_id, text, first, last, n in groups:
            if os.path.dirname(first) == os.path.dirname(last):
                direct[folder_id, os.path.dirname(first)] += n
                continue
            paths = s.scalars(
                select(Photo.path).where(
                    Photo.folder_id == folder_id, Photo.dir == text, Photo.state != PhotoState.MISSING
                )
            )
            direct.update((folder_id, os.path.dirname(p)) for p in paths)
    return {
        path: _tree(path, {d: n for (fid, d), n in direct.items() if fid == folder_id})
        for folder_id, path in watched.items()
    }


def _tree(root: str, direct: dict[str, int]) -> list[FolderNode]:
    """The folders below ``root`` from the number of photos directly in each folder."""
    top = root.rstrip(os.sep) or os.sep
    prefix = top.rstrip(os.sep) + os.sep
    totals: Counter[str] = Counter()
    for folder, n in direct.items():
        while folder.startswith(prefix) and folder != top:  # (the watched folder is the root, not a node)
            totals[folder] += n
            folder = os.path.dirname(folder)
    nodes = {folder: FolderNode(folder, n) for folder, n in totals.items()}
    roots: list[FolderNode] = []
    for folder, node in nodes.items():
        parent = nodes.get(os.path.dirname(folder))
        (roots if parent is None else parent.children).append(node)
    for node in nodes.values():
        node.children.sort(key=_by_name)
    return sorted(roots, key=_by_name)


def _by_name(node: FolderNode) -> tuple[str, str]:
    return node.name.casefold(), node.name

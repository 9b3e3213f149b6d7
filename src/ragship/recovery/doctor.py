"""`ragship doctor`: check a collection's home and, with `repair`, fix what can be fixed without losing data.

The index: the version records parse (else restored from their backup copy, or rebuilt from the LanceDB tags);
every kept version's tag points at its Lance version (recreated if that version still exists); its files match
the checksums in its record (damaged index files are rebuilt from the version's intact table; damaged data
cannot be, and such a version is marked); the live version opens and both its indexes answer; the live pointer
parses and names a healthy version (else the pointer goes to the most recently live version that passes its
checks). Then the home's other files (recovery/home_files.py). Repairs hold the home's writer lock."""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import replace
from typing import Callable

from ragship.errors import REPAIR, RagshipError, HomeFileDamaged
from ragship.index import IndexVersion
from ragship.monitor.events import Events
from ragship.monitor.querylog import QueryLog
from ragship.ingest.pipeline import DEFAULT_FTS
from ragship.recovery.archive import Archivable
from ragship.recovery.home_files import Finding, checks, plain
from ragship.util.clock import now


class Doctor:
    def __init__(self, collection: Archivable, model_id: Callable[[], str] = lambda: "unknown"):
        self.c, self.registry, self.model_id = collection, collection.registry, model_id

    def examine(self, repair: bool = False) -> list[Finding]:
        out: list[Finding] = []
        with self.c.home.exclusive() if repair else nullcontext():
            if not self._table(out, repair):
                for check in checks(self.c.home, self.c.state, self.c.calibrations, self.c.settings):
                    out.append(check(repair))
                return out
            versions = self._records(out, repair)
            if versions is not None and self.c.store().exists():
                broken = {v.id for v in versions if not v.release.get("deleted") and not self._version(v, out, repair)}
                self._pointer(out, broken, repair)
            for check in checks(self.c.home, self.c.state, self.c.calibrations, self.c.settings):
                out.append(check(repair))
        self._record([f for f in out if f.repaired])
        return out

    def _record(self, repaired: list[Finding]) -> None:
        """Repairs are events of the collection's incident timeline (a store that is itself broken keeps none)."""
        if not repaired:
            return
        home = self.c.home.root
        collection = home.name if home.parent.name == "collections" else "default"
        text = "doctor --repair: " + "; ".join(f"{f.check}: {f.problem} → {f.remedy}" for f in repaired)
        try:
            Events(QueryLog(self.c.state)).record(collection, "doctor repair", text, "doctor")
        except RagshipError:
            pass

    # -- the table, the records, the pointer ----------------------------------------------------------------------
    def _table(self, out: list[Finding], repair: bool) -> bool:
        """Whether the chunks table opens. A damaged newest manifest is set aside by --repair (into
        index/damaged/), so the table opens at the version before it; the index versions it held then fail their
        checks below and the pointer falls back."""
        store, aside = self.c.store(), []
        while store.exists():
            try:
                store.table()
                break
            except HomeFileDamaged as e:
                newest = store.newest_manifest()
                if not repair or newest is None:
                    out.append(Finding("index table", plain(e), REPAIR if newest else
                                       "restore the index folder from a backup, or import an export"))
                    return False
                aside.append(store.set_aside(newest, self.c.home.index / "damaged").name)
        if aside:
            out.append(Finding("index table", f"damaged manifests: {', '.join(aside)}", "set aside in "
                               f"{self.c.home.index / 'damaged'}; the table opens at the version before them",
                               repaired=True))
        return True

    def _records(self, out: list[Finding], repair: bool) -> list[IndexVersion] | None:
        try:
            versions = self.registry.all()
            if not versions and self.c.home.last_ingest():  # an ingest was recorded, yet no version is
                raise HomeFileDamaged(f"no version is recorded in {self.registry.versions_path} though this home has "
                                   "ingested (last_ingest.json)")
            out.append(Finding("version records", detail=f"{len(versions)} versions in {self.registry.versions_path}"))
            return versions
        except HomeFileDamaged as e:
            found = Finding("version records", plain(e), "`ragship doctor --repair` restores them from "
                            f"{self.registry.backup_path.name} or rebuilds them from the LanceDB tags")
            out.append(found)
            if not self.registry.backup() and not (self.c.store().exists() and self.c.store().tags()):
                found.remedy = ("no backup of the records and no index to rebuild them from: the index folder was "
                                "removed or emptied; restore it from a backup, import an export of it (`ragship "
                                "import`), or ingest again")
                return None
            if not repair:
                return None
        backup = self.registry.backup()
        if backup:
            found.remedy = f"restored {len(backup)} records from {self.registry.backup_path}"
        else:
            backup = self._from_tags()
            found.remedy = (f"rebuilt {len(backup)} records from the LanceDB tags, taken to be built with the "
                            "configured embed.model; their parameters and release history were lost")
        self.registry.restore(backup)
        found.repaired = True
        return backup

    def _from_tags(self) -> list[IndexVersion]:
        store = self.c.store()
        tags = store.tags() if store.exists() else {}
        rebuilt = []
        for tag, lance_version in sorted(tags.items(), key=lambda t: _number(t[0])):
            if _number(tag) < 0:
                continue
            view = store.view(tag)
            rebuilt.append(IndexVersion(id=tag, number=_number(tag), lance_version=lance_version, created_at=now(),
                                        model_id=self.model_id(), params={}, counts={"documents": view.count_docs(),
                                                                                     "chunks": view.count_chunks()},
                                        release={"rebuilt_by_doctor": now()}))
        return rebuilt

    def _pointer(self, out: list[Finding], broken: set[str], repair: bool) -> None:
        try:
            live = self.registry.live()
        except HomeFileDamaged as e:
            problem = plain(e)
        else:
            if live is None or live.id not in broken:
                out.append(Finding("live pointer", detail=f"live version: {live.id if live else 'none yet'}"))
                return
            problem = f"the live version {live.id} failed its checks (above)"
        found = Finding("live pointer", problem, REPAIR)
        out.append(found)
        target = self._fallback(broken)
        if target is None:
            found.remedy = "no version passes its checks: re-ingest, or import an export (`ragship import`)"
        elif repair:
            self._make_live(target)
            found.repaired, found.remedy = True, f"{target.id} made live (the most recently live healthy version)"
        else:
            found.remedy = f"`ragship doctor --repair` makes {target.id} live (the most recently live healthy one)"

    def _fallback(self, broken: set[str]) -> IndexVersion | None:
        healthy = [v for v in self.registry.all() if v.id not in broken and v.status(None) != "deleted"
                   and not v.release.get("refused")]
        last_live = {v.id: max(((p.get("seq", 0), p["at"]) for p in v.release.get("promotions", [])),
                               default=(0, "")) for v in healthy}
        return max(healthy, key=lambda v: (last_live[v.id], v.number), default=None)

    def _make_live(self, version: IndexVersion) -> None:
        try:
            previous = self.registry.pointer().get("id")
        except HomeFileDamaged:
            previous = None
        self.registry.set_live(version.id)
        self.registry.add_promotion(version.id, at=now(), by="doctor", forced=True, rollback=True,
                                    **{"from": previous})

    # -- one version: tag, files, and (live) that it opens and answers ----------------------------------------
    def _version(self, v: IndexVersion, out: list[Finding], repair: bool) -> bool:
        """Whether the version passes (after repairs; in a dry run, whether --repair would make it pass)."""
        if v.release.get("damaged"):  # found before; said once per run, not as a new problem
            out.append(Finding(v.id, detail=f"damaged (found {v.release['damaged']['at']}): kept out of service"))
            return False
        store = self.c.store()
        if v.lance_version not in store.lance_versions():
            found = Finding(f"{v.id} manifest", f"its Lance version {v.lance_version} has no manifest (removed, or set "
                            "aside as damaged)", f"{v.id} cannot be recovered: re-ingest the sources, or import an "
                            "export")
            if repair:  # its tag goes too: Lance reuses the number for the next commit, which is another version
                self.registry.update_release(v.id, damaged={"at": now(), "files": ["manifest"]})
                if v.id in store.tags():
                    store.table().tags.delete(v.id)
                found.remedy += "; marked damaged, kept out of service"
            out.append(found)
            return False
        tagged = store.tags().get(v.id)
        fixable = []  # what a dry run found that --repair fixes
        if tagged != v.lance_version:
            if not self._retag(v, tagged, out, repair):
                return False
            fixable.append("tag")
        if not v.files:
            found = Finding(f"{v.id} checksums", "not recorded (built by an older ragship)",
                            "`ragship doctor --repair` records them from the files as they are now")
            if repair:
                v = replace(v, files=store.checksums(v.id, {}))
                self.registry.replace_record(v)
                found.repaired, found.remedy = True, f"recorded the checksums of {len(v.files)} files"
            out.append(found)
        damaged = store.damaged(v.files)
        if damaged:
            if not self._damaged(v, damaged, out, repair):
                return False
            fixable.append("indexes")
        if fixable and not repair:
            return True
        return self._answers(self.registry.get(v.id), out)

    def _retag(self, v: IndexVersion, tagged: int | None, out: list[Finding], repair: bool) -> bool:
        what = "missing" if tagged is None else f"points at Lance version {tagged}, recorded {v.lance_version}"
        found = Finding(f"{v.id} tag", f"the LanceDB tag {v.id} is {what}")
        out.append(found)
        if v.lance_version not in self.c.store().lance_versions():
            found.remedy = (f"Lance version {v.lance_version} no longer exists: {v.id} cannot be recovered "
                            "(re-ingest, or import an export)")
            return False
        if repair:
            self.c.store().retag(v.id, v.lance_version)
            found.repaired, found.remedy = True, f"tag {v.id} recreated at Lance version {v.lance_version}"
        else:
            found.remedy = f"`ragship doctor --repair` recreates it at Lance version {v.lance_version}"
        return True

    def _damaged(self, v: IndexVersion, damaged: list[str], out: list[Finding], repair: bool) -> bool:
        found = Finding(f"{v.id} files", f"{len(damaged)} files do not match their checksums: "
                        + "; ".join(damaged[:3]) + ("; ..." if len(damaged) > 3 else ""))
        out.append(found)
        if any(not d.startswith("_indices/") for d in damaged):
            found.remedy = ("its data files are damaged: it is not served; restore the index folder from a backup, "
                            "import an export of it (`ragship import`), or re-ingest")
            if repair:
                self.registry.update_release(v.id, damaged={"at": now(), "files": damaged})
            return False
        if not repair:
            found.remedy = "only index files: `ragship doctor --repair` rebuilds them from the version's table"
            return True
        self._rebuild_indexes(v)
        found.repaired, found.remedy = True, "full-text and vector indexes rebuilt from the version's table"
        return True

    def _rebuild_indexes(self, v: IndexVersion) -> None:
        store = self.c.store()
        store.reset_head(v.lance_version)
        store.build_fts(**v.params.get("fts", DEFAULT_FTS))
        store.build_vector_index(self.c.settings.search.ann_min_rows)
        lance_version = store.commit_tag(v.id)
        self.registry.replace_record(replace(v, lance_version=lance_version,
                                             files=store.checksums(v.id, v.files)))
        live = self.registry.live()
        if live is not None and live.id != v.id:
            store.reset_head(live.lance_version)  # the head goes back to the live version, as after an ingest

    def _answers(self, v: IndexVersion, out: list[Finding]) -> bool:
        """The version opens, and its full-text and vector indexes each return a row."""
        try:
            view = self.c.store().view(v.id)
            first = view.rows(["text", "vector"]).slice(0, 3).to_pylist()
            if first:
                # words the analyzer may drop (stop words) find nothing: the index answers if any word finds a row
                words = sorted({w for r in first for w in re.findall(r"\w+", r["text"])}, key=len, reverse=True)
                assert any(view.bm25(w, 1) for w in words[:12]), "a full-text search returned nothing"
                assert view.dense(first[0]["vector"], 1), "a vector search returned nothing"
        except (RagshipError, OSError, ValueError, RuntimeError, AssertionError) as e:
            out.append(Finding(f"{v.id} opens and answers", f"{type(e).__name__}: {e}",
                               "it is not served: `ragship doctor --repair` falls back to a healthy version; "
                               "re-ingest or import an export to replace it"))
            return False
        out.append(Finding(f"{v.id}", detail=f"tag, {len(v.files)} files and both indexes healthy"))
        return True


def _number(tag: str) -> int:
    match = re.fullmatch(r"v(\d+)", tag)
    return int(match.group(1)) if match else -1

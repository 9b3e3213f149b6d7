"""Promote, gate and roll back index versions of one collection. Every change of the live version is one
atomic write of the live pointer (index/versions.py); servers check it on every request, so each request is
served by one version, and the next request after a switch by the new one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol, Sequence

from ragship.access import LOCAL, Principal, question_visible
from ragship.errors import (REPAIR, ArchiveError, GateRefused, GateUnavailable, InputError, HomeFileDamaged,
                            VersionNotFound)
from ragship.evaluate.beir import read_queries
from ragship.fsio import atomic_write_text, read_json
from ragship.index import IndexVersion
from ragship.recovery.archive import Archivable, export, import_archive
from ragship.release.gate import GateReport, compare, losers
from ragship.release.measure import Version, at_operating_point, measure
from ragship.retrieve.search import MAX_QUERY_CHARS
from ragship.settings import GoldenSet
from ragship.types import AbstainTarget
from ragship.util import actor
from ragship.util.clock import now, seconds_since


class Releasable(Archivable, Protocol):
    """What releases use of a collection (the Engine is one)."""

    def at_version(self, version_id: str) -> Version: ...


class Releases:
    def __init__(self, collection: Releasable):
        self.c, self.registry = collection, collection.registry

    def gate(self, version_id: str, extra: Sequence[GoldenSet] = ()) -> list[GateReport]:
        """The candidate against the live version on every golden set (and `extra` ones: the held-out side of a
        production labeled set); the reports are kept with the version."""
        candidate, live = self._named(version_id), self._live()
        golden = [*self.c.settings.release.golden, *extra]
        if not golden:
            raise GateUnavailable("the gate needs golden sets: add [[release.golden]] path = \"BEIR folder\" (split "
                                  "= \"test\") to ragship.toml, or promote with --force (the API: {\"force\": true})")
        if candidate.id == live.id:
            raise InputError(f"{version_id} is the live version; gate a candidate")
        sides = {"live": self.c.at_version(live.id), "candidate": self.c.at_version(candidate.id)}
        r = self.c.settings.release
        reports = []
        target = _refitted_target(sides["live"].calibration(), sides["candidate"].calibration())
        for g in golden:
            measured, point = measure(sides, g), ""
            if target and measured["live"].get("confidence"):
                measured["live"], live_at = at_operating_point(measured["live"], target)
                measured["candidate"], candidate_at = at_operating_point(measured["candidate"], target)
                point = (f"the candidate's calibration was fitted for {target}: both versions' answers are counted at "
                         f"the threshold that meets it on these questions (live {live_at:.4f}, candidate "
                         f"{candidate_at:.4f}), so that neither gains by where its threshold was set")
            report = GateReport(candidate.id, live.id, f"{g.path} ({g.split})",
                                compare(measured["live"], measured["candidate"], r.tolerances, r.significance),
                                at=now(), operating_point=point)
            report.losers = losers(measured["live"]["ndcg@10"], measured["candidate"]["ndcg@10"],
                                   read_queries(g.path / "queries.jsonl"))
            reports.append(report)
        self._keep(candidate.id, reports)
        return reports

    def promote(self, version_id: str, force: bool = False, by: str = "cli",
                reports: list[GateReport] | None = None) -> dict[str, Any]:
        """Make a version live if the gate passes (its `reports` when just run, else it runs now) or with `force`
        (recorded); GateRefused otherwise."""
        version, live = self._named(version_id), self.registry.live()
        if live is not None and version.id == live.id:
            raise InputError(f"{version_id} is already live")
        if reports is None:
            reports = [] if force or live is None else self.gate(version_id)
        if any(not r.passed for r in reports):
            self.registry.update_release(version_id, refused={"at": now(), "by": by})
            raise GateRefused(f"the gate refused {version_id}: "
                              + "; ".join(f"{c.metric} {c.change:+.4f} (p {c.p_value:.3g})" for r in reports
                                          for c in r.checks if c.regressed)
                              + f". Report: {self.report_path(version_id, 'md')}; `--force` overrides (recorded)",
                              reports)
        return self._switch(version, live, by, forced=force, rollback=False)

    def after_ingest(self, report) -> None:
        """Under `auto_promote = "gate"`, promote a new candidate if the gate passes; it stays a candidate (and
        refused, with its report) otherwise. A version held for its deletions waits for a person."""
        if report.candidate and self.c.settings.release.auto_promote == "gate" and not report.deletions_held:
            try:
                self.promote(report.version, by=actor.automatic("ingest", "auto-promote: the gate passed"))
                report.candidate = False
            except GateRefused:
                pass
        if report.new_version:
            self.cleanup()

    def pin(self, version_id: str, pinned: bool = True) -> None:
        """A pinned version is never deleted by retention."""
        self.registry.update_release(self._named(version_id).id, pinned=pinned)

    def cleanup(self) -> dict[str, Any]:
        """Retention: delete the versions not kept (see ReleaseSettings.keep_last): their tags go, their records
        stay (status "deleted"), and the files no kept version uses are removed."""
        r, pointer = self.c.settings.release, self.registry.pointer()
        alive = [v for v in self.registry.all() if not v.release.get("deleted")]
        newest = {v.id for v in sorted(alive, key=lambda v: v.number)[-r.keep_last:]}
        doomed = [v for v in alive if v.id != pointer.get("id") and v.id not in newest
                  and not v.release.get("pinned") and not self._recently_live(v, r.retire_grace_s)]
        store = self.c.store()
        for v in doomed:  # the record first: a crash before its tag goes leaves a tag the next cleanup deletes
            self.registry.update_release(v.id, deleted=now())
        for v in self.registry.all():
            if v.release.get("deleted"):
                store.delete_tag(v.id)
        reclaimed = store.reclaim() if doomed else {"bytes_removed": 0, "old_versions": 0}
        return {"deleted": [v.id for v in doomed], **reclaimed}

    def rollback(self, version_id: str | None = None, by: str = "cli") -> dict[str, Any]:
        """Make `version_id`, or else the rollback target (`rollback_target`), live again without a gate."""
        live = self._live()
        target = version_id or self.rollback_target()
        if not target:
            raise InputError(f"no earlier good version to roll back to from {live.id} (none older was live and "
                             "left without a rollback); name one: `ragship rollback VERSION`")
        if target == live.id:
            raise InputError(f"{target} is already live")
        return self._switch(self._named(target), live, by, forced=False, rollback=True)

    def rollback_target(self) -> str | None:
        """The version a rollback with no target makes live: of the versions older than the live one that were
        live, not refused, damaged or deleted since, and not left by a rollback, the most recently live. Never a
        newer one: after v2 -> v1 (a rollback), the next is the one before v1, not v2 again."""
        live = self.registry.live()
        if live is None:
            return None
        versions = self.registry.all()
        left_by_rollback = _left_by_rollback(versions)
        good = [v for v in versions if v.number < live.number and v.status(live.id) == "retired"
                and v.id not in left_by_rollback]
        latest = max(good, key=lambda v: max(map(_order, v.release["promotions"])), default=None)
        return latest.id if latest else None

    def export(self, version_id: str | None, dest: Path) -> dict[str, Any]:
        return export(self.c, version_id and self._named(version_id).id, dest)

    def import_(self, archive: Path) -> dict[str, Any]:
        """Add an exported version; gate it against the live one when there are golden sets (it stays a
        candidate), else check that it serves (a smoke test: a few chunks found by their own text)."""
        report = import_archive(self.c, archive)
        assert report.version is not None  # the version it committed
        imported = {"version": report.version, "live": self.registry.pointer().get("id"),
                    "documents": report.documents, "chunks": report.chunks}
        if report.candidate and self.c.settings.release.golden:
            imported["gate"] = [r.to_dict() for r in self.gate(report.version)]
        else:
            imported["smoke"] = self.smoke(report.version)
        return imported

    def smoke(self, version_id: str, n: int = 5) -> dict[str, Any]:
        """Search `n` of the version's chunks, spread over the index, by their own text: each must come back in
        the top 10 (its vector and its words both point at it)."""
        searcher = self.c.at_version(version_id).searcher()
        ids = searcher.view.memory.chunk_ids
        rows = searcher.view.chunks(ids[:: max(1, len(ids) // n)][:n])
        found = sum(any(h.chunk_id == r["chunk_id"]
                        for h in searcher.search(r["text"][:MAX_QUERY_CHARS], None, 10).hits)
                    for r in rows)
        if found < len(rows):
            raise ArchiveError(f"imported version {version_id} found only {found} of {len(rows)} chunks by their "
                               "own text: its index is not usable; roll back if it went live, and export it again")
        return {"queries": len(rows), "found": found}

    def versions(self) -> list[dict[str, Any]]:
        """Every version, newest first, with its status, the key figures of its last gate, its disk use (`bytes`
        it reads, `own_bytes` no other kept version shares: what deleting it would free) and whether its last time
        live ended in a rollback (`rolled_back`)."""
        live, records = self.registry.pointer().get("id"), self.registry.all()
        undone = _left_by_rollback(records)
        disk = self.c.store().disk_use([v.id for v in records if not v.release.get("deleted")])
        return [{"id": v.id, "status": v.status(live), "created_at": v.created_at, "model": v.model_id,
                 "counts": v.counts, "parent": v.parent, "corpus_sha256": v.corpus_sha256[:12],
                 "disk": disk.get(v.id, {"bytes": 0, "own_bytes": 0}),
                 "changes": {k: v.ingest.get(k, 0) for k in ("added", "changed", "deleted")},
                 "gate": v.release.get("gate"), "promotions": v.release.get("promotions", []),
                 "pinned": bool(v.release.get("pinned")), "rolled_back": v.id in undone}
                for v in reversed(records)]

    def report_path(self, version_id: str, suffix: str):
        return self.c.home.index / "reports" / f"{version_id}.{suffix}"

    def report(self, version_id: str, viewer: Principal = LOCAL) -> dict[str, Any]:
        """The last gate's reports on a version: {"reports": [...], "markdown": "..."}; the losers' questions only
        where `viewer` may read them (a golden set keeps no asker: a grouped caller gets their ids and scores)."""
        path = self.report_path(self._named(version_id).id, "json")
        reports = read_json(path)
        if reports is None:
            raise VersionNotFound(f"no gate report for {version_id}: `ragship gate {version_id}` makes one")
        if question_visible(viewer, None) or not any(r["losers"] for r in reports):
            return {"reports": reports, "markdown": path.with_suffix(".md").read_text(encoding="utf-8")}
        reports = [{**r, "losers": [{**q, "query": None} for q in r["losers"]]} for r in reports]
        return {"reports": reports, "markdown": "\n".join(GateReport.from_dict(r).markdown() for r in reports)}

    # -- steps --------------------------------------------------------------------------------------------------
    def _named(self, version_id: str) -> IndexVersion:
        found = self.registry.find(version_id)
        if found is None:
            raise VersionNotFound(f"no index version {version_id!r}; `ragship versions` lists them")
        if found.release.get("deleted"):
            raise InputError(f"index version {version_id} was deleted by retention on {found.release['deleted']}; "
                             "pin versions you want to keep: `ragship versions pin VERSION`")
        return found

    def _live(self) -> IndexVersion:
        live = self.registry.live()
        if live is None:
            raise InputError("no live version yet: ingest documents first")
        return live

    def _recently_live(self, version: IndexVersion, grace_s: float) -> bool:
        """Whether the version stopped being live less than `grace_s` ago (a query may still be reading it)."""
        ended = [p["at"] for v in self.registry.all() for p in v.release.get("promotions", [])
                 if p.get("from") == version.id]
        return bool(ended) and seconds_since(max(ended)) < grace_s

    def _switch(self, version: IndexVersion, live: IndexVersion | None, by: str, forced: bool,
                rollback: bool) -> dict[str, Any]:
        # damaged files are refused, not served: a promotion reads every byte against the recorded checksums; a
        # rollback, which must take under a second at any size, compares sizes (`ragship doctor` reads the rest)
        damaged = self.c.store().damaged(version.files, deep=not rollback)
        if damaged:
            raise HomeFileDamaged(f"index version {version.id} is damaged ({'; '.join(damaged[:3])}); it stays "
                               f"out of service; {REPAIR}")
        t = time.perf_counter()
        self.registry.set_live(version.id, expected=live.id if live else None)  # compare-and-swap
        switch_ms = (time.perf_counter() - t) * 1000
        entry = {"at": now(), "by": by, "forced": forced, "rollback": rollback, "from": live.id if live else None}
        self.registry.add_promotion(version.id, **entry)
        self.registry.update_release(version.id, refused=None)
        return {"live": version.id, "previous": live.id if live else None, "switch_ms": round(switch_ms, 2),
                **entry}

    def _keep(self, version_id: str, reports: list[GateReport]) -> None:
        atomic_write_text(self.report_path(version_id, "md"), "\n".join(r.markdown() for r in reports))
        atomic_write_text(self.report_path(version_id, "json"),
                          "[" + ",\n".join(r.to_json() for r in reports) + "]\n")
        summary = {"at": now(), "live": reports[0].live, "passed": all(r.passed for r in reports),
                   "metrics": {c.metric: {"live": c.live, "candidate": c.candidate, "regressed": c.regressed}
                               for r in reports for c in r.checks}}
        self.registry.update_release(version_id, gate=summary)


def _order(promotion: dict[str, Any]) -> tuple:
    """A promotion's place in the home's history: its `seq` (records older than it: the time)."""
    return promotion.get("seq", 0), promotion.get("at", "")


def _left_by_rollback(versions: list[IndexVersion]) -> set[str]:
    """The versions whose last time live ended in a rollback away from them (a release someone undid)."""
    ended: dict[str, dict[str, Any]] = {}
    for p in (p for v in versions for p in v.release.get("promotions", [])):
        if p.get("from") and (p["from"] not in ended or _order(p) > _order(ended[p["from"]])):
            ended[p["from"]] = p
    return {v for v, p in ended.items() if p.get("rollback")}


def _refitted_target(live, candidate) -> AbstainTarget | None:
    """The operating point of the candidate's own calibration when it is not the live version's (a run re-fitted
    it for the candidate's model): both sides' answer rates are then compared there, each side's threshold chosen on
    the set's own questions (at_operating_point: in-sample for both alike). None otherwise."""
    if candidate is None or candidate == live:
        return None
    return AbstainTarget.parse(candidate.target)

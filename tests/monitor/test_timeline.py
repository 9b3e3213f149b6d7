"""Timeline lines for releases: who promoted, and a first version said as such, not "None -> v1"."""

from types import SimpleNamespace

from ragship.monitor.timeline import _release


def version(vid: str, promotions: list[dict]) -> SimpleNamespace:
    return SimpleNamespace(id=vid, release={"promotions": promotions})


def test_the_first_promotion_reads_first_version_live_and_names_who():
    first = _release(version("v1", [{"at": "2026-01-01T00:00:00+00:00", "by": "ingest (first version)",
                                     "from": None}]), "version v1", [])
    assert [(e["text"], e["by"]) for e in first] == [("promote: first version v1 live", "ingest (first version)")]
    later = _release(version("v2", [{"at": "2026-01-02T00:00:00+00:00", "by": "cli (alice)", "from": "v1",
                                     "rollback": True}]), "version v2", [])
    assert later[0]["text"] == "rollback: v1 -> v2" and later[0]["by"] == "cli (alice)"

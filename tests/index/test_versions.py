import json

import pytest

from ragship.errors import HomeFileDamaged
from ragship.index.versions import IndexVersion, VersionRegistry


def version(n):
    return IndexVersion(f"v{n}", n, 10 + n, "2026-01-01T00:00:00+00:00", "m@1", {"chunk": {}}, {"documents": 1,
                                                                                                 "chunks": 2})


def test_records_versions_and_moves_the_live_pointer(tmp_path):
    reg = VersionRegistry(tmp_path)
    assert reg.live() is None and reg.next_id() == ("v1", 1)
    reg.record(version(1))
    reg.set_live("v1")
    reg.record(version(2))
    assert reg.live().id == "v1" and reg.next_id() == ("v3", 3)
    reg.set_live("v2")
    assert reg.live().lance_version == 12 and reg.pointer()["previous"] == "v1"
    assert [v.id for v in VersionRegistry(tmp_path).all()] == ["v1", "v2"]


def test_pointer_to_an_unknown_version_is_an_error(tmp_path):
    reg = VersionRegistry(tmp_path)
    with pytest.raises(HomeFileDamaged):
        reg.set_live("v9")
    (tmp_path / "LIVE").write_text(json.dumps({"id": "v9"}))
    with pytest.raises(HomeFileDamaged, match="v9"):
        reg.live()


def test_writes_leave_no_temporary_files(tmp_path):
    reg = VersionRegistry(tmp_path)
    reg.record(version(1))
    reg.set_live("v1")
    # versions.lock is the records' lock file (filelock keeps it; it holds no data)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["LIVE", "versions.backup.json", "versions.json", "versions.lock"]

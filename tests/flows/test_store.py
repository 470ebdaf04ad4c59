"""The result store keeps data, never code: a tampered record or database is a cache miss, and
nothing is unpickled."""

import pickle
import sqlite3
import stat

from flows.models import ProblemRecord, ProblemResult
from flows.store import Store, private_dir


class Bomb:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def record(pid="p1"):
    return ProblemRecord(result=ProblemResult(id=pid, gold="True", predicted="True", status="True", solver="z3", correct=True))


def test_round_trip_and_private_modes(tmp_path):
    store = Store(tmp_path / "cache")
    store.put("result", "k1", record())
    assert store.get("result", "k1", ProblemRecord) == record()
    assert store.get("result", "k2", ProblemRecord) is None
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert Store(tmp_path / "cache").get("result", "k1", ProblemRecord) == record()  # another process's view


def test_tampered_records_are_misses_never_code(tmp_path):
    store = Store(tmp_path / "cache")
    store.put("result", "k", record())
    marker = tmp_path / "unpickled"
    db = sqlite3.connect(store.path)
    for payload in (pickle.dumps(Bomb(str(marker))), b"{not json", b'{"result": {"id": 3}}', b'{"__class__": "os.system"}', b""):
        db.execute("UPDATE records SET value = ? WHERE key = 'k'", (payload,))
        db.commit()
        assert store.get("result", "k", ProblemRecord) is None
    db.close()
    assert not marker.exists() and store.rejected == 5


def test_a_database_overwritten_with_a_pickle_is_set_aside(tmp_path):
    Store(tmp_path / "cache").put("result", "k", record())
    marker = tmp_path / "unpickled"
    for name in ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm"):
        path = tmp_path / "cache" / name
        if path.exists():
            path.write_bytes(pickle.dumps(Bomb(str(marker))))
    store = Store(tmp_path / "cache")
    assert store.get("result", "k", ProblemRecord) is None  # a miss: the batch recomputes
    store.put("result", "k", record())
    assert store.get("result", "k", ProblemRecord) == record()
    assert not marker.exists()
    assert list((tmp_path / "cache").glob("store.sqlite.corrupt-*"))


def test_private_dir_tightens_existing_modes(tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    private_dir(d / "a" / "b")
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in (d / "a", d / "a" / "b"))
    private_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_get_many_reads_what_exists_and_validates_across_query_sizes(tmp_path):
    store = Store(tmp_path / "cache")
    keys = [f"k{i}" for i in range(1203)]  # more than one query's worth (500 keys a query)
    for i, key in enumerate(keys):
        if i % 3:
            store.put("result", key, record(f"p{i}"))
    store.put("llm", "k0", record("other-kind"))  # another kind under the same key is not this one
    db = sqlite3.connect(store.path)
    db.execute("UPDATE records SET value = ? WHERE kind = 'result' AND key = 'k1000'", (pickle.dumps(Bomb("x")),))
    db.commit()
    db.close()
    found = store.get_many("result", keys + ["absent"], ProblemRecord)
    expected = {key for i, key in enumerate(keys) if i % 3 and key != "k1000"}
    assert set(found) == expected
    assert all(found[f"k{i}"].result.id == f"p{i}" for i in (1, 2, 500, 1202))
    assert store.rejected == 1  # the tampered one: a miss, counted
    assert store.has_many("result", keys) == expected | {"k1000"}  # a hint: present, not validated
    assert store.get_many("result", [], ProblemRecord) == {} and Store(None).get_many("result", keys, ProblemRecord) == {}

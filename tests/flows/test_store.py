"""The result store keeps data, never code: a tampered record is a cache miss, nothing is unpickled."""

import os
import pickle
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
    store.put("result", "ab" + "0" * 62, record())
    assert store.get("result", "ab" + "0" * 62, ProblemRecord) == record()
    for path in (tmp_path / "cache").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_tampered_records_are_misses_never_code(tmp_path):
    store = Store(tmp_path / "cache")
    key = "cd" + "1" * 62
    store.put("result", key, record())
    (path,) = (tmp_path / "cache" / "result").rglob("*.json")
    marker = tmp_path / "unpickled"
    for payload in (pickle.dumps(Bomb(str(marker))), b"{not json", b'{"result": {"id": 3}}', b'{"__class__": "os.system"}',
                    b""):
        path.write_bytes(payload)
        assert store.get("result", key, ProblemRecord) is None
    assert not marker.exists()
    assert store.rejected == 5


def test_private_dir_tightens_existing_modes(tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    private_dir(d / "a" / "b")
    for p in (d, d / "a", d / "a" / "b"):
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 or p == d
    private_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700

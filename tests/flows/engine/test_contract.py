"""What a served run may touch (``flows.engine.contract``) and how its files are written
(``flows.engine.outputs``), without a server: every refusal one line, nothing written through a link."""

from __future__ import annotations

import json
import os
import stat

import pytest

from flows.engine.contract import (BOUNDS, Refused, ServePolicy, dataset_error, dataset_path, pick_model, run_folder,
                                   validated)
from flows.engine.outputs import OutputError, ResultsSink, write_atomic
from flows.engine.runs import BatchParams


@pytest.fixture()
def policy(tmp_path):
    data = tmp_path / "project"
    (data / "examples").mkdir(parents=True)
    (data / "examples" / "ok.jsonl").write_text('{"id": "a"}\n')
    home = data / ".nesyflow"
    home.mkdir()
    (home / "api-auth").write_text("nesyflow:secret\n")
    return ServePolicy(read_roots=(data,), results_root=home / "runs", home=home)


def refused(text: str, policy) -> str:
    with pytest.raises(Refused) as info:
        dataset_path(text, policy)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_dataset_is_read_only_as_a_regular_file_under_the_roots(policy, tmp_path):
    root = policy.read_roots[0]
    assert dataset_path("examples/ok.jsonl", policy) == root / "examples" / "ok.jsonl"  # relative: to the first root
    assert "outside the folders" in refused("/etc/passwd", policy)
    assert "outside the folders" in refused("examples/../../x.jsonl", policy)
    (root / "examples" / "link.jsonl").symlink_to("/dev/zero")
    assert "outside the folders" in refused("examples/link.jsonl", policy)  # resolved first
    assert "inside nesyflow's own state" in refused(str(policy.home / "api-auth"), policy)
    (root / ".env").write_text("KEY=1\n")
    assert "hidden" in refused(".env", policy)
    os.mkfifo(root / "examples" / "fifo.jsonl")
    assert "not a regular file" in refused("examples/fifo.jsonl", policy)
    assert "not a regular file" in refused("examples", policy)
    assert "no such file" in refused("examples/none.jsonl", policy)
    assert "NUL" in refused("examples/ok.jsonl\x00", policy)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a file as another user")
def test_another_users_private_file_is_not_read_with_the_servers_privileges(policy):
    theirs = policy.read_roots[0] / "examples" / "theirs.jsonl"
    theirs.write_text('{"id": "secret"}\n')
    os.chown(theirs, 65534, 65534)
    theirs.chmod(0o600)
    assert "private to its owner (uid 65534)" in refused(str(theirs), policy)
    theirs.chmod(0o644)
    assert dataset_path(str(theirs), policy) == theirs
    hidden_dir = policy.read_roots[0] / "examples" / "private"
    hidden_dir.mkdir()
    (hidden_dir / "x.jsonl").write_text("{}\n")
    os.chown(hidden_dir, 65534, 65534)
    hidden_dir.chmod(0o700)  # a world-readable file in another user's private folder
    assert "private to its owner" in refused(str(hidden_dir / "x.jsonl"), policy)


def test_models_and_endpoints_come_from_the_operator():
    base = dict(read_roots=(), results_root="/r", home="/h")
    none = ServePolicy(**base)
    with pytest.raises(Refused, match="offers no model"):
        pick_model("openai/gpt-4o", None, none)
    offered = ServePolicy(**base, models=("openai/a", "openai/b"), api_bases=("http://127.0.0.1:8000/v1",))
    assert pick_model(None, None, offered) == ("openai/a", "http://127.0.0.1:8000/v1")
    assert pick_model("openai/b", "http://127.0.0.1:8000/v1", offered) == ("openai/b", "http://127.0.0.1:8000/v1")
    with pytest.raises(Refused, match="not offered"):
        pick_model("openai/gpt-4o", None, offered)
    with pytest.raises(Refused, match="not an endpoint this server sends requests"):
        pick_model("openai/a", "http://attacker.example/v1", offered)
    provider_only = ServePolicy(**base, models=("openai/a",))
    with pytest.raises(Refused, match="the provider's own endpoint only"):
        pick_model("openai/a", "http://127.0.0.1:1/v1", provider_only)


def test_a_dataset_error_names_where_not_what(tmp_path):
    from flows.datasets import DatasetError, load_problems

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s3cr3t"}))
    with pytest.raises(DatasetError) as info:
        load_problems(keys)
    assert "aws_access_key_id" in str(info.value)  # the CLI user may see their own file's keys
    served = str(dataset_error(info.value, keys))
    assert served == f"{keys}: record 1: cannot tell the format from its keys; pass format"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x"}, {"password": "hunter2"')
    with pytest.raises(DatasetError) as info:
        load_problems(bad)
    assert str(dataset_error(info.value, bad)).startswith(f"{bad}: invalid JSON at line 1, column")
    assert "hunter2" not in str(dataset_error(DatasetError(f"{bad}: not JSON or JSONL (first problem: hunter2)"), bad))


def test_the_run_folder_is_ours_and_never_a_link(tmp_path):
    policy = ServePolicy(read_roots=(), results_root=tmp_path / "runs", home=tmp_path)
    run_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    folder = run_folder(policy, run_id)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o700
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
    (tmp_path / "runs" / planted).symlink_to(elsewhere)
    with pytest.raises(Refused, match="not a directory of the serving user"):
        run_folder(policy, planted)
    with pytest.raises(Refused, match="flow run id"):
        run_folder(policy, "../../etc")


def test_served_files_are_owner_only_and_never_written_through_a_link(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    sink = ResultsSink(["a"], str(folder / "results.jsonl"), private=True)
    sink.finish()
    write_atomic(folder / "summary.json", "{}\n", private=True)
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    target = tmp_path / "victim"
    (folder / "again.jsonl").symlink_to(target)
    with pytest.raises(OutputError, match="a symbolic link"):
        ResultsSink(["a"], str(folder / "again.jsonl"), private=True)
    assert not target.exists()
    write_atomic(folder / "again.jsonl", "x\n", private=True)  # a link at the name is replaced, not followed
    assert not target.exists() and not (folder / "again.jsonl").is_symlink()
    linked = tmp_path / "linked-folder"
    linked.symlink_to(folder)
    with pytest.raises(OutputError):
        write_atomic(linked / "summary.json", "{}\n", private=True)  # a served run's folder may not be a link
    # the CLI's own paths: folders made as needed, 0644, still never written through a link
    write_atomic(tmp_path / "new" / "dir" / "s.json", "{}\n")
    assert stat.S_IMODE((tmp_path / "new" / "dir" / "s.json").stat().st_mode) == 0o644
    (tmp_path / "cli.jsonl").symlink_to(target)
    with pytest.raises(OutputError, match="a symbolic link"):
        ResultsSink(["a"], str(tmp_path / "cli.jsonl"))
    assert not target.exists()


def test_one_definition_of_the_bounds_for_the_cli_and_the_flows():
    from flows.cli.commands import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["batch", "x.jsonl", "--samples", "1000000"])
    args = parser.parse_args(["batch", "x.jsonl", "--samples", "100", "--timeout", "3600", "--temperature", "2"])
    assert (args.samples, args.timeout, args.temperature) == (100, 3600.0, 2.0)
    for name, value in (("samples", 10**6), ("timeout_s", 1e6), ("concurrency", 10**5), ("repair_rounds", 99)):
        with pytest.raises(Refused, match=name):
            validated(BatchParams, {"path": "x", name: value})
    assert BOUNDS["seconds"].problem(1e6) == "must be between 0 and 3600 seconds, got 1000000.0"
    assert BOUNDS["samples"].problem(0) == "must be at least 1, got 0"

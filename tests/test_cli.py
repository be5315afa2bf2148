"""The command line, run in-process against a real store."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from hindsight.cli import main
from tests.helpers import event, write

IA = "pack_net_interface_addresses"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HINDSIGHT_DATA": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, input=input)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def loaded(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    path = write(
        tmp_path / "r.log",
        event(IA, 1793541600, "added", {"address": "10.1.2.3", "interface": "eth0"}, counter=0),
        event(IA, 1793541900, "removed", {"address": "10.1.2.3", "interface": "eth0"}, counter=1),
        event(
            IA,
            1793541900,
            "added",
            {"address": "10.1.2.3", "interface": "eth0"},
            counter=0,
            uuid="U-2",
            host="lap-2",
        ),
    )
    code, out, _ = run(env, "ingest", str(path))
    assert code == 0 and "lines: 3" in out and "hosts: 2" in out
    return env


def test_who_had_the_ip_in_one_sql_line(loaded: dict[str, str]) -> None:
    sql = "SELECT host FROM interface_addresses WHERE address = '10.1.2.3'"
    for at, host in (
        ("2026-11-01T14:03:00Z", "web-07"),
        ("2026-11-01T14:05:00+00:00", "lap-2"),
        ("1793541780", "web-07"),
    ):
        code, out, err = run(loaded, "sql", sql, "--at", at, "--format", "json")
        assert code == 0, err
        assert orjson.loads(out) == [{"host": host}]


def test_state_formats(loaded: dict[str, str]) -> None:
    code, out, _ = run(loaded, "state", IA, "--at", "1793541700", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["host"], r["address"]) for r in rows] == [("web-07", "10.1.2.3")]
    code, out, _ = run(
        loaded, "state", "interface_addresses", "--at", "1793541700", "--host", "web-07"
    )
    assert code == 0 and "10.1.2.3" in out and "web-07" in out


def test_clear_errors_with_suggestions(loaded: dict[str, str]) -> None:
    code, _, err = run(loaded, "state", "interface_adresses", "--at", "1")
    assert code == 2 and "did you mean 'interface_addresses'" in err
    code, _, err = run(loaded, "state", IA, "--at", "yesterday")
    assert code == 2 and "cannot read TIME 'yesterday'" in err
    code, _, err = run(loaded, "state", IA, "--host", "web-7")
    assert code == 2 and "did you mean 'web-07'" in err


def test_listings(loaded: dict[str, str]) -> None:
    code, out, _ = run(loaded, "hosts", "--format", "json")
    assert code == 0 and sorted(h["host"] for h in orjson.loads(out)) == ["lap-2", "web-07"]
    code, out, _ = run(loaded, "queries", "--format", "json")
    assert orjson.loads(out)[0]["query"] == IA and orjson.loads(out)[0]["hosts"] == 2


def test_rejected_lines_exit_1_after_storing_the_rest(env: dict[str, str], tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.log", event(IA, 100, "added", {"address": "a"}, counter=0), b"{oops"
    )
    code, out, err = run(env, "ingest", str(path))
    assert code == 1 and f"{path}:2: invalid JSON" in err and "lines rejected: 1" in out
    code, out, _ = run(
        env,
        "sql",
        "SELECT count(*) AS n FROM interface_addresses",
        "--at",
        "200",
        "--format",
        "json",
    )
    assert orjson.loads(out) == [{"n": 1}]


def test_stdin_and_rebuild(env: dict[str, str]) -> None:
    code, out, _ = run(
        env, "ingest", "-", input=event(IA, 100, "added", {"address": "a"}, counter=0) + b"\n"
    )
    assert code == 0 and "lines: 1" in out
    code, out, _ = run(env, "rebuild")
    assert code == 0 and "rebuilt 1 streams" in out
    code, out, _ = run(env, "state", IA, "--at", "100", "--format", "json")
    assert [r["address"] for r in orjson.loads(out)] == ["a"]


def test_no_store_yet(env: dict[str, str]) -> None:
    code, _, err = run(env, "hosts")
    assert code == 2 and "run `hindsight ingest` first" in err


def test_data_before_the_command(loaded: dict[str, str], tmp_path: Path) -> None:
    """`hindsight --data DIR CMD` as `hindsight CMD --data DIR`: over HINDSIGHT_DATA, under the
    command's own --data, and only for that invocation."""
    data = loaded["HINDSIGHT_DATA"]
    elsewhere = {"HINDSIGHT_DATA": str(tmp_path / "other")}
    code, out, _ = run(elsewhere, "--data", data, "hosts", "--format", "json")
    assert code == 0 and len(orjson.loads(out)) == 2
    code, out, _ = run(elsewhere, "--data", str(tmp_path / "other"), "hosts", "--data", data,
                       "--format", "json")
    assert code == 0 and len(orjson.loads(out)) == 2
    code, _, err = run({}, "--data", str(tmp_path / "none"), "hosts")
    assert code != 0 and "none" in err
    import os

    assert os.environ.get("HINDSIGHT_DATA") != data


def test_data_on_a_group_of_commands(loaded: dict[str, str], tmp_path: Path) -> None:
    """`hindsight who --data DIR ip ...` as `hindsight who ip ... --data DIR` (and `timeline`,
    `token`, `user`): the group's --data over the root's, under the command's own."""
    data, other = loaded["HINDSIGHT_DATA"], str(tmp_path / "other")
    elsewhere = {"HINDSIGHT_DATA": other}
    ask = ["ip", "10.1.2.3", "--at", "1793541780", "--format", "json"]
    for args in (
        ["who", "--data", data, *ask],
        ["--data", other, "who", "--data", data, *ask],
        ["who", "--data", other, *ask, "--data", data],
    ):
        code, out, err = run(elsewhere, *args)
        assert code == 0, (args, err)
        assert [r["host"] for r in orjson.loads(out)] == ["web-07"]
    code, out, err = run(elsewhere, "timeline", "--data", data, "host", "lap-2", "--format", "json")
    assert code == 0 and orjson.loads(out), err
    code, out, err = run(elsewhere, "token", "--data", data, "create", "--name", "ci")
    assert code == 0, err
    code, out, err = run(elsewhere, "token", "list", "--data", data, "--format", "json")
    assert code == 0 and [t["name"] for t in orjson.loads(out)] == ["ci"], err
    code, out, err = run(elsewhere, "user", "--data", data, "list")
    assert code == 0, err


def test_ingest_of_a_directory_names_the_files_it_skips(env: dict[str, str], tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "osqueryd.results.log", event(IA, 1793541600, "added", {"address": "10.1.2.3"}))
    (logs / "README.txt").write_text("collected from web-07 on 2026-11-01\nby the IR team\n")
    code, out, err = run(env, "ingest", str(logs))
    assert code == 0, err  # nothing rejected
    assert "lines: 1" in out
    assert "skipped 1 file" in err and "README.txt" in err and "name a file" in err
    code, out, err = run(env, "ingest", str(logs / "README.txt"))  # named: read, and rejected
    assert code == 1 and "README.txt:1: invalid JSON" in err


HOSTILE = [
    "[a-z]+ /log/[bold]x",  # markup that would hide text
    "s/[/]//g",  # markup that would crash
    "[link=x]u[/link]:fire:",  # a link and an emoji code
    "\x1b[2J\x1b[31mok",  # escape sequences: clear the screen, colour
    "a\u202egpj.exe",  # a right-to-left override
]
SHOWN = ["[a-z]+ /log/[bold]x", "s/[/]//g", "[link=x]u[/link]:fire:", "\\x1b[2J\\x1b[31mok",
         "a\\u202egpj.exe"]


@pytest.fixture
def hostile(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Each hostile value in every column, the host name included."""
    n = len(HOSTILE)
    lines = [
        event(
            "procs",
            1000,
            "added",
            {f"c{i}": HOSTILE[(i + shift) % n] for i in range(n)},
            counter=shift,
            host=HOSTILE[shift],
            uuid=f"U-{shift}",
        )
        for shift in range(n)
    ]
    code, _, err = run(env, "ingest", str(write(tmp_path / "h.log", *lines)))
    assert code == 0, err
    return env


def test_table_shows_values_literally_in_every_column(hostile: dict[str, str]) -> None:
    for args in (("state", "procs", "--at", "1000"), ("sql", "SELECT * FROM procs"), ("hosts",)):
        code, out, err = run(hostile, *args)
        assert code == 0, err
        assert "\x1b" not in out and "\u202e" not in out
        for shown in SHOWN:  # as a host; in each cN column of each host's row
            if args[0] == "hosts":
                assert shown in out
            else:
                assert out.count(shown) == 1 + len(HOSTILE), (args, shown)


def test_table_headers_are_literal(hostile: dict[str, str]) -> None:
    code, out, err = run(hostile, "sql", 'SELECT c0 AS "[bold]x[/]", c1 AS ":fire:" FROM procs')
    assert code == 0, err
    assert "[bold]x[/]" in out and ":fire:" in out


def test_json_and_csv_keep_exact_values(hostile: dict[str, str]) -> None:
    code, out, _ = run(hostile, "state", "procs", "--at", "1000", "--format", "json")
    rows = orjson.loads(out)
    assert code == 0 and {r["host"] for r in rows} == set(HOSTILE)
    assert all(sorted(v for k, v in r.items() if k.startswith("c")) == sorted(HOSTILE) for r in rows)
    code, out, _ = run(hostile, "state", "procs", "--at", "1000", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["host"] for r in rows} == set(HOSTILE)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("[bold]x", "unknown host '[bold]x'"),
        ("sed [/]", "unknown host 'sed [/]'"),
        ("\x1b[2Jx", "unknown host '\\x1b[2Jx'"),
    ],
)
def test_error_messages_quote_user_text_literally(
    loaded: dict[str, str], given: str, shown: str
) -> None:
    code, _, err = run(loaded, "state", IA, "--host", given)
    assert code == 2 and f"error: {shown}" in err and "\x1b" not in err
    code, _, err = run(loaded, "state", "[red]nope[/]", "--at", "1")
    assert code == 2 and "unknown query '[red]nope[/]'" in err


def test_json_of_a_join_keeps_both_sides_same_named_columns(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`SELECT *` over an event joined with its parent process: the event's own pid and
    cmdline are kept, the parent's come as pid_2 and cmdline_2, in json as in csv."""
    path = write(
        tmp_path / "p.log",
        event("processes", 1000, "added", {"pid": "100", "cmdline": "sshd: alice"}, counter=0),
        event(
            "process_events",
            1100,
            "added",
            {"pid": "4242", "parent": "100", "cmdline": "curl x | sh", "time": "1050"},
        ),
    )
    assert run(env, "ingest", str(path))[0] == 0
    query = (
        "SELECT e.pid, e.cmdline, p.pid, p.cmdline FROM process_events e "
        "JOIN processes FOR SYSTEM_TIME AS OF e.time p ON p.host_key = e.host_key AND p.pid = e.parent"
    )
    code, out, err = run(env, "sql", query, "--format", "json")
    assert code == 0, err
    assert orjson.loads(out) == [
        {"pid": 4242, "cmdline": "curl x | sh", "pid_2": 100, "cmdline_2": "sshd: alice"}
    ]
    code, out, _ = run(env, "sql", query, "--format", "csv")
    assert out.splitlines()[0] == "pid,cmdline,pid_2,cmdline_2"


@pytest.mark.parametrize(
    "args",
    [
        ("state", IA, "--at", "Sun Nov 31 14:03:00 2026 UTC"),
        ("sql", "SELECT * FROM interface_addresses", "--at", "Sun Nov 31 14:03:00 2026 UTC"),
        (
            "sql",
            "SELECT * FROM interface_addresses FOR SYSTEM_TIME AS OF 'Sun Nov 31 14:03:00 2026 UTC'",
        ),
    ],
)
def test_an_impossible_calendar_time_is_a_clear_error(
    loaded: dict[str, str], args: tuple[str, ...]
) -> None:
    code, _, err = run(loaded, *args)
    assert code == 2 and "Traceback" not in err
    assert "cannot read TIME 'Sun Nov 31 14:03:00 2026 UTC'" in err and "out of range" in err


def test_a_time_in_milliseconds_is_refused_with_the_seconds_it_means(loaded: dict[str, str]) -> None:
    code, out, err = run(loaded, "state", IA, "--at", "1793541780000")
    assert code == 2 and out == ""
    assert "looks like milliseconds: did you mean 1793541780?" in err


def test_a_bad_setting_is_one_line_naming_it(loaded: dict[str, str]) -> None:
    code, out, err = run({**loaded, "HINDSIGHT_MAX_ROWS": "abc"}, "sql", "SELECT 1 AS x")
    assert code == 2 and out == ""
    assert err == "error: setting HINDSIGHT_MAX_ROWS must be an integer, not 'abc'\n"


def test_state_of_an_event_query_points_to_the_command(env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path / "e.log", event("process_events", 1000, "added", {"pid": "1"}))
    assert run(env, "ingest", str(path))[0] == 0
    code, _, err = run(env, "state", "process_events", "--at", "1000")
    assert code == 2 and "sql()" not in err
    assert "error: process_events is an event query: it has no state; use `hindsight sql` to " \
        "read its events" in err
    import hindsight
    from hindsight.errors import NoState

    with hindsight.open(env["HINDSIGHT_DATA"], read_only=True) as hs, pytest.raises(
        NoState, match=r"use sql\(\) to read its events"
    ):
        hs.state("process_events", 1000)


def test_a_broken_symlink_is_named_as_such(env: dict[str, str], tmp_path: Path) -> None:
    link = tmp_path / "osqueryd.results.log"
    link.symlink_to(tmp_path / "gone" / "osqueryd.results.log")
    code, _, err = run(env, "ingest", str(link))
    assert code == 2 and "did you mean" not in err
    assert f"error: broken symlink: {link} points to {tmp_path}/gone/osqueryd.results.log" in err


def test_ingest_says_when_it_ran_without_the_native_fast_path(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hindsight.store import native

    path = write(tmp_path / "r.log", event(IA, 1793541600, "added", {"address": "10.1.2.3"}))
    code, _, err = run(env, "ingest", str(path))
    assert code == 0 and "SQL path" not in err  # built: nothing to say
    monkeypatch.setattr(native, "available", lambda: False)
    code, _, err = run({**env, "HINDSIGHT_NATIVE": "off"}, "ingest", str(path))
    assert code == 0 and "SQL path" not in err  # chosen: nothing to say either
    code, _, err = run(env, "ingest", str(path))
    assert code == 0 and "ran on its SQL path" in err and "librust-serde-json-dev" in err


@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (["who", "10.1.2.3", "--at", "now"], ["hindsight who ip 10.1.2.3 --at now"]),
        (["who", "1001@web 07"], ["hindsight who uid 1001 --host 'web 07'"]),
        (["who", "/media/usb@web-07"], ["hindsight who mount /media/usb --host web-07"]),
        (["who", "1001"], ["hindsight who uid 1001 --host HOST"]),
        (["timeline", "10.0.0.0/8"], ["hindsight timeline ip 10.0.0.0/8"]),
        (["timeline", "web-07"], ["hindsight timeline host web-07", "hindsight timeline user web-07"]),
    ],
)
def test_an_investigation_given_its_subject_names_the_command_meant(
    env: dict[str, str], args: list[str], meant: list[str]
) -> None:
    code, _, err = run(env, *args)
    assert code == 2
    assert f"No such command {args[1]!r}: did you mean " in err
    assert err.count("`hindsight ") == len(meant)
    assert all(f"`{m}`" in err for m in meant)


@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (["--data", "d 1", "who", "10.1.2.3"], "hindsight --data 'd 1' who ip 10.1.2.3"),
        (["who", "--data", "d2", "1001@web"], "hindsight who --data d2 uid 1001 --host web"),
        (["timeline", "--data", "d3", "10.0.0.0/8"], "hindsight timeline --data d3 ip 10.0.0.0/8"),
    ],
)
def test_the_command_meant_runs_on_the_store_given(
    env: dict[str, str], args: list[str], meant: str
) -> None:
    code, _, err = run(env, *args)
    assert code == 2 and f"did you mean `{meant}`?" in err


def test_a_misspelt_investigation_keeps_clicks_suggestion(env: dict[str, str]) -> None:
    for args, close in ((["timeline", "users"], "user"), (["who", "ipp", "1.2.3.4"], "ip")):
        code, _, err = run(env, *args)
        assert code == 2 and f"Did you mean '{close}'?" in err and "`hindsight" not in err
    code, _, err = run(env, "who", "alice")  # (nothing `who` asks about)
    assert code == 2 and "No such command 'alice'." in err


IN_PROCESS = """
import signal, sys, threading
from click.testing import CliRunner
from hindsight.cli import main
for _ in range(2):
    result = CliRunner().invoke(main, ["--data", sys.argv[1], "sql", "SELECT 1"])
    assert result.exit_code == 0, result.output
print(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []),
      [t.name for t in threading.enumerate() if t.name == "hindsight-ctrl-c"])
"""


def test_a_command_run_in_process_leaves_ctrl_c_as_it_found_it(loaded: dict[str, str]) -> None:
    """A command that makes Ctrl-C stop its statements (it blocks SIGINT and waits for it in a
    thread) puts the mask back and ends the thread: a process it ran in, and every process that
    one starts after, still hears Ctrl-C."""
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, loaded["HINDSIGHT_DATA"]],
        capture_output=True,
        text=True,
        timeout=60,
        # (as at a terminal: the suite may run as a shell's background job, SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "[]"]

"""Real osquery output from public repositories (../shared/osquery/samples), read where it is."""

from __future__ import annotations

from pathlib import Path

import hindsight


def ingest(hs: hindsight.Hindsight, samples: Path, pattern: str) -> hindsight.IngestSummary:
    return hs.ingest(sorted(samples.glob(pattern)))


def test_batch_numerics_true_with_events(hs: hindsight.Hindsight, samples: Path) -> None:
    summary = ingest(hs, samples, "patleb__*")
    assert (summary.lines, summary.rejected) == (7, 0)
    assert hs.sql("SELECT count(*) FROM crontab").rows == [(6,)]
    # event tables are events with their own time, typed from the schema
    rows = hs.sql("SELECT target_path, action, time FROM file_events ORDER BY time").rows
    assert rows[0] == ("/etc/test.conf", "DELETED", 1625200422) and len(rows) == 6
    assert hs.sql("SELECT count(*) FROM socket_events").rows == [(4,)]
    assert hs.sql("SELECT count(*) FROM osquery_info WHERE pid = 15724", at=1625200600).rows == [
        (4,)
    ]


def test_event_format_all_strings_with_decorations(hs: hindsight.Hindsight, samples: Path) -> None:
    summary = ingest(hs, samples, "elastic__*")
    assert (summary.lines, summary.rejected) == (10, 0)
    (host,) = hs.hosts().dicts()
    assert (
        host["host_key"] == "72e1287b-d1bc-4fc6-b9d8-64f4352776a9"
        and host["host"] == "ubuntu-xenial"
    )
    assert hs.sql("SELECT count(*) FROM schedule", at=1515423115).rows == [(10,)]


def test_old_fleet_lines_snapshot_and_empty_string_array(
    hs: hindsight.Hindsight, samples: Path
) -> None:
    summary = ingest(hs, samples, "kolide__*results.jsonl")
    assert (summary.lines, summary.rejected) == (4, 0)
    names = {r["query"] for r in hs.queries().dicts()}
    assert names == {"system_info", "encrypted", "time", "pack/test/hosts"}
    assert hs.sql("SELECT hostname FROM system_info", at=1475258115).rows == [("hostimus",)]
    assert hs.sql("SELECT hour, minutes FROM time", at=1484078931).rows == [("20", "8")]
    # a batch removing a row never seen added is flagged, not fatal; and the host keyed
    # `some_uuid` (its identifier) goes on under the uuid decoration its name reports next, so
    # its state ends there
    assert [r["kind"] for r in hs.quality().dicts()] == ["identity_continued", "removed_not_open"]
    assert hs.sql("SELECT hostname FROM system_info", at=1475270355).rows == []


def test_status_logs_are_kept_as_status(hs: hindsight.Hindsight, samples: Path) -> None:
    summary = ingest(hs, samples, "*status*")
    assert (summary.rejected, summary.statuses) == (0, 4)


def test_tls_body_and_firehose_lines(hs: hindsight.Hindsight, samples: Path) -> None:
    summary = hs.ingest(
        sorted(samples.glob("fleetdm__*")) + sorted(samples.glob("panther*differential*"))
    )
    assert (summary.lines, summary.rejected) == (4, 0)
    assert hs.sql("SELECT count(*) FROM packFOOBARGlobalFOOBARQuery_50").rows == [
        (1,)
    ]  # custom delimiter
    assert hs.sql("SELECT blocks FROM mounts").rows == [(61202533,)]  # typed from the mounts table


def test_every_sample_in_one_go(hs: hindsight.Hindsight, samples: Path) -> None:
    files = [p for p in samples.iterdir() if p.suffix != ".md"]
    summary = hs.ingest(files)
    assert summary.rejected == 0 and summary.lines == 29
    again = hs.ingest(files)
    assert again.duplicates == again.lines - again.rejected

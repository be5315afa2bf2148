"""Check the Rust rows against Hindsight's normaliser (hindsight.osquery.lines), row by row.

python check.py FILE
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import orjson
import rc

from hindsight.osquery.lines import ResultLine, parse_document

path = sys.argv[1]
for threads in (1, 2):
    t, names, hosts, lines, bad = rc.ingest(path, threads)
    print(
        "threads",
        threads,
        "rows",
        t.num_rows,
        "lines",
        lines,
        "bad",
        bad,
        "names",
        len(names),
        "hosts",
        len(hosts),
        "chunks",
        len(t.to_batches()),
    )
    t.validate(full=True)
    line = t.column("line").to_pylist()
    name = t.column("name_id").to_pylist()
    host = t.column("host_id").to_pylist()
    unix = t.column("unix_time").to_pylist()
    op = t.column("op").to_pylist()
    h = t.column("hash").to_pylist()
    canon = t.column("canon").to_pylist()
    i = 0
    mism = 0
    with open(path, "rb") as f:
        for idx, raw in enumerate(f):
            doc = parse_document(orjson.loads(raw))
            assert isinstance(doc, ResultLine)
            for o, rows in (
                (0 if doc.shape != "snapshot" and doc.shape != "snapshot_event" else 2, doc.added),
                (1, doc.removed),
            ):
                for r in rows:
                    ok = (
                        line[i] == idx
                        and names[name[i]] == doc.name
                        and hosts[host[i]] == doc.host_key
                        and unix[i] == doc.unix_time
                        and op[i] == o
                        and h[i] == r.hash
                        and canon[i].encode() == r.canon
                    )
                    if not ok:
                        mism += 1
                        if mism < 3:
                            print("MISMATCH", idx, i, canon[i][:80], r.canon[:80], h[i], r.hash)
                    i += 1
    print(
        "checked rows",
        i,
        "mismatches",
        mism,
        "all rows matched" if i == t.num_rows and not mism else "FAIL",
    )

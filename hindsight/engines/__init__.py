"""Query engines beyond the embedded store. `spark`: the lake on Apache Spark (optional extra)."""

"""Hindsight: the state of every osquery table on every host, at any instant."""

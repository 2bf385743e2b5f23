"""Consent registry: per subscriber x application x purpose grants, append-only events, hash-chained audit."""

"""Points of interest and active queries: the POI store, nearest-k search (PostGIS and in memory), imports,
the SMS keywords (PHARMACY, PHARMACIE, APOTHEEK, ATM, ...) and the replies they get. See ``docs/pois.md``."""

"""The platform REST API (aiohttp): providers, privacy officers, operator, standard location APIs."""

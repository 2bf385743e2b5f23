"""Messaging core: SMPP bind (aiosmpplib ESME), MO routing by keyword, MT sending, SMS encoding."""

"""LBS & consent platform core: settings, storage, subscribers, consent, messaging, location."""

"""Operator network emulators: the LES (OMA MLP over HTTP) and the SMSC (SMPP 3.4) with simulated handsets."""

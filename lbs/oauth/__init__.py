"""CAMARA device tokens: a subscriber-confirmed authorisation (SMS one-time code) and signed access tokens."""

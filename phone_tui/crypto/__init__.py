"""Cryptography built from pyca ``cryptography`` primitives: keystore, PIN throttling."""

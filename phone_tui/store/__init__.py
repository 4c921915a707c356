"""The persona's encrypted database (SQLCipher)."""

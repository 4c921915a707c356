"""The phone's model: Handset, Persona, events. No Textual here."""

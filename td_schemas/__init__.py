"""JSON Schemas shipped with wot-labthing (loaded with importlib.resources)."""

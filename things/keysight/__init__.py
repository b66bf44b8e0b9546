"""Keysight (formerly Agilent, formerly Hewlett-Packard) instruments."""

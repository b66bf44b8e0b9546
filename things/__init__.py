"""Instrument drivers (a folder per manufacturer) and their wire-level simulators."""

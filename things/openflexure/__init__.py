"""Drivers for OpenFlexure hardware (the Sangaboard motor controller)."""

"""Stdlib-only code that generation/, pipeline/ and facedepth/ share (both package walls allow it)."""

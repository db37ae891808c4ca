"""Visitors, readings and events: what each person reads and how deeply."""

"""Serving the champion: batch scoring (and the shadow scoring of a challenger)."""

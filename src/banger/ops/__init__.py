"""Tracked long-running operations: the reporter protocol helpers receive, and the manager."""

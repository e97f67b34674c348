"""Use cases. Each public method is one operation a route calls."""

"""HTTP routes as Chalice blueprints: parse, call one service method, return."""

"""The pure core every environment drives: no I/O, no clock reads, nothing else from `engine` imported."""

from engine.core.ids import ClientId, client_order_id, parse_client_id, scope_tag

__all__ = ["ClientId", "client_order_id", "parse_client_id", "scope_tag"]
